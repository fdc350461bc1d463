/* Index arrays of a graph step, and helpers the graph-network ops share. */
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

mtl_index *mtl_graph_index(mtl_graph *g, int64_t n, const int64_t *values, int64_t range)
{
    mtl_index *ix;

    if (!g)
        return NULL;
    if (n <= 0 || range <= 0 || !values)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "nn: mtl_graph_index: bad arguments (expected n > 0, range > 0 "
                              "and values, got n = %lld, range = %lld)",
                              (long long)n, (long long)range),
               NULL;
    for (int64_t i = 0; i < n; i++)
        if (values[i] < 0 || values[i] >= range)
            return mtl_graph_fail(g, MTL_ERR_INVALID,
                                  "nn: mtl_graph_index: value %lld at position %lld is out of "
                                  "range (expected 0 to %lld)",
                                  (long long)values[i], (long long)i, (long long)(range - 1)),
                   NULL;

    ix = mtl_arena_alloc(&g->meta, sizeof *ix);
    if (ix)
        ix->values = mtl_arena_alloc(&g->meta, (size_t)n * sizeof *ix->values);
    if (!ix || !ix->values)
        return mtl_graph_fail(g, MTL_ERR_NOMEM, "nn: mtl_graph_index: out of memory"), NULL;
    memset(&ix->base, 0, sizeof ix->base);
    ix->base.kind = MTL_TENSOR_INPUT;
    ix->base.ndim = 1;
    ix->base.shape[0] = n;
    ix->base.numel = n;
    memcpy(ix->values, values, (size_t)n * sizeof *values);
    ix->n = n;
    ix->range = range;
    ix->offsets = NULL;
    ix->order = NULL;
    ix->inv_count = NULL;
    ix->sorted = 1;
    for (int64_t i = 1; i < n && ix->sorted; i++)
        ix->sorted = values[i - 1] <= values[i];
    return ix;
}

int64_t mtl_index_size(const mtl_index *ix)
{
    return ix ? ix->n : -1;
}

int64_t mtl_index_range(const mtl_index *ix)
{
    return ix ? ix->range : -1;
}

mtl_status nn_index_group(mtl_graph *g, mtl_index *ix)
{
    int64_t *next;

    if (ix->offsets)
        return MTL_OK;
    ix->offsets = mtl_arena_alloc(&g->meta, (size_t)(ix->range + 1) * sizeof *ix->offsets);
    ix->order = mtl_arena_alloc(&g->meta, (size_t)ix->n * sizeof *ix->order);
    next = mtl_arena_alloc(&g->meta, (size_t)ix->range * sizeof *next);
    if (!ix->offsets || !ix->order || !next) {
        ix->offsets = NULL;
        mtl_graph_fail(g, MTL_ERR_NOMEM, "nn: out of memory for an index's grouping");
        return MTL_ERR_NOMEM;
    }

    /* A counting sort: stable, so each group keeps its positions ascending. */
    memset(ix->offsets, 0, (size_t)(ix->range + 1) * sizeof *ix->offsets);
    for (int64_t i = 0; i < ix->n; i++)
        ix->offsets[ix->values[i] + 1]++;
    for (int64_t v = 0; v < ix->range; v++) {
        ix->offsets[v + 1] += ix->offsets[v];
        next[v] = ix->offsets[v];
    }
    for (int64_t i = 0; i < ix->n; i++)
        ix->order[next[ix->values[i]]++] = i;
    return MTL_OK;
}

const float *nn_index_inv_count(mtl_graph *g, mtl_index *ix)
{
    float *host;

    if (ix->inv_count)
        return ix->inv_count;
    if (nn_index_group(g, ix) != MTL_OK)
        return NULL;
    host = mtl_arena_alloc(&g->meta, (size_t)ix->range * sizeof *host);
    ix->inv_count = nn_scratch(g, ix->range);
    if (!host || !ix->inv_count) {
        ix->inv_count = NULL;
        mtl_graph_fail(g, MTL_ERR_NOMEM, "nn: out of memory for an index's counts");
        return NULL;
    }
    for (int64_t v = 0; v < ix->range; v++) {
        int64_t count = ix->offsets[v + 1] - ix->offsets[v];
        host[v] = count > 0 ? 1.0f / (float)count : 0.0f;
    }
    g->be->from_host(ix->inv_count, host, (size_t)ix->range);
    return ix->inv_count;
}

int nn_needs_grad(const mtl_graph *g, int n, mtl_tensor *const *inputs)
{
    if (!g->recording)
        return 0;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad)
            return 1;
    return 0;
}

float *nn_grad(mtl_graph *g, mtl_tensor *t)
{
    return t && t->requires_grad ? mtl_grad_acc(g, t) : NULL;
}

float *nn_scratch(mtl_graph *g, int64_t count)
{
    return mtl_arena_alloc(&g->data, mtl_array_bytes(count, sizeof(float)));
}

mtl_tensor *nn_result(mtl_graph *g, int64_t d0, int64_t d1)
{
    int64_t shape[2] = {d0, d1};

    if (d1 <= 0)
        return mtl_graph_new_tensor(g, MTL_TENSOR_RESULT, 1, shape, d0);
    return mtl_graph_new_shaped(g, MTL_TENSOR_RESULT, 2, shape);
}

static void format_dims(char *buf, size_t cap, int ndim, const int64_t *dims)
{
    size_t len = 0;

    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int i = 0; i < ndim && len < cap; i++) {
        if (dims[i] < 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s?", i ? ", " : "");
        else
            len +=
                (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

int nn_check_backend(mtl_graph *g, const char *op)
{
    if (g->be->nn)
        return 1;
    mtl_graph_fail(g, MTL_ERR_UNSUPPORTED, "nn: %s: the %s backend has no graph-network kernels",
                   op, g->be->name);
    return 0;
}

static int check_shape(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                       int ndim, const int64_t *dims)
{
    char want[64], got[64];
    int ok = t->ndim == ndim;

    if (!nn_check_backend(g, op))
        return 0;

    for (int i = 0; ok && i < ndim; i++)
        ok = dims[i] < 0 || t->shape[i] == dims[i];
    if (ok)
        return 1;
    format_dims(want, sizeof want, ndim, dims);
    mtl_shape_format(t, got, sizeof got);
    mtl_graph_fail(g, MTL_ERR_INVALID, "nn: %s: %s shape mismatch (expected %s, got %s)", op, what,
                   want, got);
    return 0;
}

int nn_check_matrix(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                    int64_t rows, int64_t cols)
{
    int64_t dims[2] = {rows, cols};
    return check_shape(g, op, what, t, 2, dims);
}

int nn_check_vector(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t, int64_t n)
{
    return check_shape(g, op, what, t, 1, &n);
}
