/*
 * Graphs: the per-step arena, the tape of recorded ops and reverse-mode
 * differentiation over it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* Blocks of a fresh graph: enough for a small step without growing. */
#define META_BLOCK (64u * 1024u)
#define DATA_BLOCK (64u * 1024u)

mtl_status mtl_graph_create(mtl_graph **graph)
{
    mtl_graph *g;

    if (!graph)
        return mtl_error_set(MTL_ERR_INVALID, "graph: mtl_graph_create: NULL argument");
    g = calloc(1, sizeof *g);
    if (!g)
        return mtl_error_set(MTL_ERR_NOMEM, "graph: mtl_graph_create: out of memory");
    g->be = mtl_backend_default();
    mtl_arena_init(&g->meta, META_BLOCK, malloc, free);
    mtl_arena_init(&g->data, DATA_BLOCK, g->be->mem_alloc, g->be->mem_free);
    g->recording = 1;
    *graph = g;
    return MTL_OK;
}

void mtl_graph_destroy(mtl_graph *graph)
{
    if (!graph)
        return;
    mtl_arena_deinit(&graph->meta);
    mtl_arena_deinit(&graph->data);
    free(graph);
}

void mtl_graph_reset(mtl_graph *graph)
{
    if (!graph)
        return;
    mtl_arena_reset(&graph->meta);
    mtl_arena_reset(&graph->data);
    graph->tape = NULL;
    graph->retained = NULL;
    graph->free_accs = NULL;
    graph->spare_accs = NULL;
    graph->recording = 1;
    graph->status = MTL_OK;
    graph->message[0] = '\0';
}

mtl_status mtl_graph_status(const mtl_graph *graph)
{
    if (!graph)
        return mtl_error_set(MTL_ERR_INVALID, "graph: mtl_graph_status: NULL graph");
    /* The thread's message may have been replaced since: restore the step's. */
    if (graph->status != MTL_OK)
        mtl_error_set(graph->status, "%s", graph->message);
    return graph->status;
}

void mtl_graph_set_recording(mtl_graph *graph, int on)
{
    if (graph)
        graph->recording = on != 0;
}

size_t mtl_graph_bytes(const mtl_graph *graph)
{
    return graph ? graph->meta.held + graph->data.held : 0;
}

size_t mtl_graph_peak_bytes(const mtl_graph *graph)
{
    /* Both arenas only grow inside a step, so their peaks happen together. */
    return graph ? graph->meta.peak + graph->data.peak : 0;
}

mtl_tensor *mtl_graph_fail(mtl_graph *g, mtl_status status, const char *fmt, ...)
{
    va_list ap;

    if (g->status != MTL_OK)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(g->message, sizeof g->message, fmt, ap);
    va_end(ap);
    g->status = status;
    mtl_error_set(status, "%s", g->message);
    return NULL;
}

mtl_tensor *mtl_graph_fail_size(mtl_graph *g, const char *fn, int ndim, const int64_t *shape)
{
    char dims[160];

    mtl_shape_format_dims(ndim, shape, dims, sizeof dims);
    return mtl_graph_fail(g, MTL_ERR_INVALID,
                          "%s: shape %s is too large (expected at most %zu bytes)", fn, dims,
                          MTL_MAX_TENSOR_BYTES);
}

mtl_tensor *mtl_graph_input(mtl_graph *graph, int ndim, const int64_t *shape)
{
    int64_t numel;

    if (!graph)
        return NULL;
    numel = mtl_shape_numel("graph: mtl_graph_input", ndim, shape);
    if (numel < 0)
        return mtl_graph_fail(graph, MTL_ERR_INVALID, "%s", mtl_error_message());
    return mtl_graph_new_tensor(graph, MTL_TENSOR_INPUT, ndim, shape, numel);
}

mtl_tensor *mtl_graph_scalar(mtl_graph *graph, float value)
{
    mtl_tensor *t;

    if (!graph)
        return NULL;
    t = mtl_graph_new_tensor(graph, MTL_TENSOR_INPUT, 0, NULL, 1);
    if (t)
        graph->be->fill(1, value, t->data);
    return t;
}

void mtl_graph_retain_grad(mtl_graph *graph, mtl_tensor *t)
{
    mtl_retained *r;

    if (!graph || !t || t->kind == MTL_TENSOR_PARAM || t->retained)
        return;
    r = mtl_arena_alloc(&graph->meta, sizeof *r);
    t->gacc = mtl_arena_alloc(&graph->data, (size_t)t->numel * sizeof(float));
    if (!r || !t->gacc) {
        t->gacc = NULL;
        mtl_graph_fail(graph, MTL_ERR_NOMEM, "graph: mtl_graph_retain_grad: out of memory");
        return;
    }
    graph->be->fill(t->numel, 0.0f, t->gacc);
    r->t = t;
    r->next = graph->retained;
    graph->retained = r;
    t->retained = 1;
    /* Ops recorded from now on carry its gradient. */
    if (graph->recording)
        t->requires_grad = 1;
}

/*
 * A free accumulator of at least `bytes` from this pass, or NULL.  The best fit
 * among those at most a quarter larger: feature maps repeat their shapes, so
 * most requests find an exact match.
 */
static float *reuse_acc(mtl_graph *g, size_t bytes)
{
    mtl_free_acc **best = NULL;
    mtl_free_acc *r;
    float *mem;

    for (mtl_free_acc **p = &g->free_accs; *p; p = &(*p)->next) {
        size_t have = (*p)->bytes;

        if (have >= bytes && have - bytes <= bytes / 4 && (!best || have < (*best)->bytes)) {
            best = p;
            if (have == bytes)
                break;
        }
    }
    if (!best)
        return NULL;
    r = *best;
    *best = r->next;
    mem = r->mem;
    r->next = g->spare_accs;
    g->spare_accs = r;
    return mem;
}

/* Offers `bytes` at mem to later accumulators of this pass; 0 when no record could be made. */
static int give_back(mtl_graph *g, float *mem, size_t bytes)
{
    mtl_free_acc *r = g->spare_accs;

    if (r)
        g->spare_accs = r->next;
    else if (!(r = mtl_arena_alloc(&g->meta, sizeof *r)))
        return 0; /* kept to the pass's end instead */
    r->mem = mem;
    r->bytes = bytes;
    r->next = g->free_accs;
    g->free_accs = r;
    return 1;
}

static int is_output(const mtl_tensor *t, int n, mtl_tensor *const *outputs)
{
    for (int i = 0; i < n; i++)
        if (outputs[i] == t)
            return 1;
    return 0;
}

/*
 * Called once t's producer has back-propagated: no op of this pass reads or
 * adds to t's gradient any more (its consumers come later on the tape, so
 * they ran before), and its accumulator can serve another tensor.  In a last
 * pass its values go too: the producer was the last op to read them.
 */
static void release_after(mtl_graph *g, mtl_tensor *t, int last, int n, mtl_tensor *const *outputs)
{
    size_t bytes = (size_t)t->numel * sizeof(float);

    if (t->kind == MTL_TENSOR_PARAM || t->retained)
        return;
    if (t->pass == g->pass && t->gacc && give_back(g, t->gacc, bytes)) {
        t->gacc = NULL;
        t->pass = 0;
    }
    if (last && t->kind == MTL_TENSOR_RESULT && !t->view && t->data && !is_output(t, n, outputs) &&
        give_back(g, t->data, bytes))
        t->data = NULL;
}

float *mtl_grad_acc_first(mtl_graph *g, mtl_tensor *t)
{
    size_t bytes = (size_t)t->numel * sizeof(float);

    t->pass = g->pass;
    if (t->retained)
        return t->gacc; /* zeroed when the pass began */
    t->gacc = reuse_acc(g, bytes);
    if (!t->gacc)
        t->gacc = mtl_arena_alloc(&g->data, bytes);
    if (!t->gacc) {
        g->backward_nomem = 1;
        return NULL;
    }
    g->be->fill(t->numel, 0.0f, t->gacc);
    return t->gacc;
}

/* The gradient of a node's output in this pass, or NULL when the pass never reached it. */
static const float *grad_reached(const mtl_graph *g, const mtl_tensor *t)
{
    return t->pass == g->pass ? t->gacc : NULL;
}

static mtl_status check_outputs(const char *fn, mtl_graph *g, int n, mtl_tensor *const *outputs,
                                const float *seeds)
{
    if (n < 0 || (n > 0 && (!outputs || !seeds)))
        return mtl_error_set(MTL_ERR_INVALID,
                             "graph: %s: bad outputs (expected n >= 0 with outputs and seeds, got "
                             "n = %d)",
                             fn, n);
    if (g->status != MTL_OK)
        return mtl_error_wrap(mtl_graph_status(g), "graph: %s: the step failed earlier", fn);
    for (int i = 0; i < n; i++) {
        if (!outputs[i])
            return mtl_error_set(MTL_ERR_INVALID, "graph: %s: output %d is NULL", fn, i);
        if (outputs[i]->numel != 1)
            return mtl_error_set(MTL_ERR_INVALID,
                                 "graph: %s: output %d is not a one-element "
                                 "tensor (expected 1 element, got %lld)",
                                 fn, i, (long long)outputs[i]->numel);
    }
    return MTL_OK;
}

static mtl_status backward(const char *fn, mtl_graph *graph, int n, mtl_tensor *const *outputs,
                           const float *seeds, int last)
{
    mtl_arena_mark mark;
    mtl_status st;

    if (!graph)
        return mtl_error_set(MTL_ERR_INVALID, "graph: %s: NULL graph", fn);
    st = check_outputs(fn, graph, n, outputs, seeds);
    if (st != MTL_OK)
        return st;

    /* A new pass number makes every scratch accumulator of the last pass stale. */
    if (++graph->pass == 0)
        graph->pass = 1;
    graph->backward_nomem = 0;
    for (mtl_retained *r = graph->retained; r; r = r->next)
        graph->be->fill(r->t->numel, 0.0f, r->t->gacc);

    mark = mtl_arena_get_mark(&graph->data);
    for (int i = 0; i < n; i++) {
        float *dy;

        if (!outputs[i]->requires_grad)
            continue; /* depends on no parameter: nothing to propagate */
        dy = mtl_grad_acc(graph, outputs[i]);
        if (dy)
            graph->be->add_constant(1, seeds[i], dy);
    }

    /* The tape is in creation order, a topological order: walk it backwards. */
    for (const mtl_node *node = graph->tape; node && !graph->backward_nomem; node = node->prev) {
        const float *dy = grad_reached(graph, node->out);
        if (dy) {
            node->backward(graph, node, dy);
            release_after(graph, node->out, last, n, outputs);
        }
    }

    /* The free records go back to the spares: their memory is released below. */
    while (graph->free_accs) {
        mtl_free_acc *r = graph->free_accs;
        graph->free_accs = r->next;
        r->next = graph->spare_accs;
        graph->spare_accs = r;
    }
    mtl_arena_release(&graph->data, mark);
    if (graph->backward_nomem)
        return mtl_error_set(MTL_ERR_NOMEM, "graph: %s: out of memory", fn);
    return MTL_OK;
}

mtl_status mtl_graph_backward(mtl_graph *graph, int n, mtl_tensor *const *outputs,
                              const float *seeds)
{
    return backward("mtl_graph_backward", graph, n, outputs, seeds, 0);
}

mtl_status mtl_graph_backward_last(mtl_graph *graph, int n, mtl_tensor *const *outputs,
                                   const float *seeds)
{
    return backward("mtl_graph_backward_last", graph, n, outputs, seeds, 1);
}
