/* Bump allocation in reusable blocks (see arena.h). */
#include "arena.h"

#include <stdlib.h>

void mtl_arena_init(mtl_arena *a, size_t min_block, void *(*block_alloc)(size_t),
                    void (*block_free)(void *))
{
    a->head = NULL;
    a->cur = NULL;
    a->held = 0;
    a->peak = 0;
    a->min_block = min_block;
    a->block_alloc = block_alloc;
    a->block_free = block_free;
}

static void free_blocks(mtl_arena *a, mtl_arena_block *b)
{
    while (b) {
        mtl_arena_block *next = b->next;
        a->held -= b->cap;
        a->block_free(b->mem);
        free(b);
        b = next;
    }
}

void mtl_arena_deinit(mtl_arena *a)
{
    free_blocks(a, a->head);
    a->head = NULL;
    a->cur = NULL;
}

static mtl_arena_block *block_new(mtl_arena *a, size_t cap)
{
    mtl_arena_block *b = malloc(sizeof *b);

    if (!b)
        return NULL;
    b->mem = a->block_alloc(cap);
    if (!b->mem) {
        free(b);
        return NULL;
    }
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    b->high = 0;
    a->held += cap;
    if (a->held > a->peak)
        a->peak = a->held;
    return b;
}

/* Sets a block's fill to `used` (no more than now), keeping its high-water mark. */
static void lower(mtl_arena_block *b, size_t used)
{
    if (b->used > b->high)
        b->high = b->used;
    b->used = used;
}

void *mtl_arena_alloc_slow(mtl_arena *a, size_t bytes)
{
    mtl_arena_block *b = a->cur;
    mtl_arena_block *last = b;
    size_t cap, least;

    /* Refused before any size arithmetic below can wrap. */
    if (bytes > MTL_ARENA_MAX_BYTES)
        return NULL;

    /* The blocks after the current one are free: take the first that fits. */
    for (b = b ? b->next : NULL; b; b = b->next) {
        lower(b, 0);
        a->cur = b;
        last = b;
        if (bytes <= b->cap)
            return mtl_arena_alloc(a, bytes);
    }

    /* Grow geometrically so that a growing step takes few blocks. */
    cap = a->min_block;
    if (last && cap < 2 * last->cap)
        cap = 2 * last->cap;
    if (cap < bytes + 64)
        cap = bytes + 64;
    least = bytes + 64 > a->min_block ? bytes + 64 : a->min_block;
    b = block_new(a, cap);
    /* Doubling may ask for more than the system grants at once: ask for what is needed. */
    if (!b && cap > least)
        b = block_new(a, least);
    if (!b)
        return NULL;
    if (last)
        last->next = b;
    else
        a->head = b;
    a->cur = b;
    return mtl_arena_alloc(a, bytes);
}

void mtl_arena_release(mtl_arena *a, mtl_arena_mark mark)
{
    if (!mark.block) {
        /* Nothing was allocated when the mark was taken. */
        if (a->head) {
            a->cur = a->head;
            lower(a->head, 0);
        }
        return;
    }
    /* The blocks after the mark's keep their fill until taken again (see alloc_slow). */
    a->cur = mark.block;
    lower(mark.block, mark.used);
}

void mtl_arena_reset(mtl_arena *a)
{
    mtl_arena_block *b, *one;
    size_t need = 0;

    if (!a->head)
        return;
    for (b = a->head; b; b = b->next) {
        lower(b, 0);
        need += b->high;
        b->high = 0;
    }
    a->cur = a->head;
    if (!a->head->next)
        return;

    /*
     * A step that spilled into later blocks gets one block for all it used,
     * so that the next identical step fits in one.  The margin covers
     * alignment that falls differently in one block; pages never touched
     * cost address space only.  Taken before the old blocks are freed, and
     * when that is refused (the system's commit limit), after.
     */
    need += need / 8 + 4096;
    if (need < a->min_block)
        need = a->min_block;
    one = block_new(a, need);
    free_blocks(a, a->head);
    if (!one)
        one = block_new(a, need);
    a->head = one;
    a->cur = one;
}
