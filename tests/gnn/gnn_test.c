/* Helpers of the graph-network tests (gnn_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>

#include "gnn_test.h"

mtl_index *gnn_index(mtl_graph *g, const mtl_test_fixture *fx, const char *name, int64_t range)
{
    const mtl_test_ftensor *ft = mtl_test_fixture_get(fx, name);
    int64_t *v = malloc((size_t)ft->numel * sizeof *v);
    mtl_index *ix;

    assert_non_null(v);
    for (int64_t i = 0; i < ft->numel; i++)
        v[i] = (int64_t)ft->values[i];
    ix = mtl_graph_index(g, ft->numel, v, range);
    free(v);
    assert_non_null(ix);
    return ix;
}

mtl_tensor *gnn_new_param(mtl_model *m, const char *name, int64_t d0, int64_t d1, mtl_rng *rng)
{
    int64_t shape[2] = {d0, d1};

    return mtl_test_new_param(m, name, d1 > 0 ? 2 : 1, shape, rng);
}
