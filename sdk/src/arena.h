/*
 * arena.h - bump allocation in big reusable blocks, for one graph step.
 *
 * Internal to libmtl.  Allocation is a pointer bump in the current block;
 * a new block is taken only when the current one is full.  mtl_arena_reset()
 * makes every block free again, and when the step needed more than one block
 * it replaces them by a single block as large as the bytes the step used at
 * most (each block's high-water mark, not its capacity: geometric growth
 * leaves the last block mostly empty), so a loop repeating the same step
 * allocates nothing from the system after its second step.  Marks give
 * stack-like release inside a step (the scratch of a backward pass).
 */
#ifndef MTL_ARENA_H
#define MTL_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* The largest single allocation an arena grants (see MTL_MAX_TENSOR_BYTES). */
#define MTL_ARENA_MAX_BYTES ((size_t)1 << 48)

/* Internal symbols stay out of libmtl's exported ABI. */
#pragma GCC visibility push(hidden)

typedef struct mtl_arena_block {
    struct mtl_arena_block *next;
    char *mem;
    size_t cap;
    size_t used;
    size_t high; /* the most bytes used since the last reset, as of the last lowering */
} mtl_arena_block;

struct mtl_arena {
    mtl_arena_block *head; /* first block, or NULL before the first allocation */
    mtl_arena_block *cur;  /* the block allocations come from */
    size_t held;           /* bytes of all blocks */
    size_t peak;           /* most bytes held since creation */
    size_t min_block;      /* the smallest block size taken from the system */
    /* Where block memory comes from (backend memory for tensor data). */
    void *(*block_alloc)(size_t bytes);
    void (*block_free)(void *p);
};

typedef struct mtl_arena mtl_arena;

typedef struct mtl_arena_mark {
    mtl_arena_block *block;
    size_t used;
} mtl_arena_mark;

void mtl_arena_init(mtl_arena *a, size_t min_block, void *(*block_alloc)(size_t),
                    void (*block_free)(void *));
void mtl_arena_deinit(mtl_arena *a);

/* Frees every allocation; consolidates the blocks (see above). */
void mtl_arena_reset(mtl_arena *a);

void *mtl_arena_alloc_slow(mtl_arena *a, size_t bytes);

/*
 * `bytes` rounded up to a multiple of 16 (64 for large requests); NULL on
 * failure, and for more than MTL_ARENA_MAX_BYTES.
 */
static inline void *mtl_arena_alloc(mtl_arena *a, size_t bytes)
{
    mtl_arena_block *b = a->cur;
    size_t align = bytes >= 1024 ? 64 : 16;
    size_t start;

    if (b) {
        start = (b->used + align - 1) & ~(align - 1);
        /* Written so that no sum can wrap, whatever `bytes` is. */
        if (start <= b->cap && bytes <= b->cap - start) {
            b->used = start + bytes;
            return b->mem + start;
        }
    }
    return mtl_arena_alloc_slow(a, bytes);
}

static inline mtl_arena_mark mtl_arena_get_mark(const mtl_arena *a)
{
    mtl_arena_mark m = {a->cur, a->cur ? a->cur->used : 0};
    return m;
}

/* Frees everything allocated since the mark was taken. */
void mtl_arena_release(mtl_arena *a, mtl_arena_mark mark);

#pragma GCC visibility pop

#endif /* MTL_ARENA_H */
