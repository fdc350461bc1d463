/*
 * A backend whose table has no graph-network kernels (its nn entry NULL):
 * every op refuses with MTL_ERR_UNSUPPORTED and names the backend, instead
 * of calling through a NULL pointer.  Uses libmtl's internal headers to
 * stand such a backend up from the CPU one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core.h"
#include "gnn_test.h"

static void expect_unsupported(mtl_graph *g, const char *op)
{
    char want[160];

    snprintf(want, sizeof want, "nn: %s: the bare backend has no graph-network kernels", op);
    assert_int_equal(mtl_graph_status(g), MTL_ERR_UNSUPPORTED);
    assert_string_equal(mtl_error_message(), want);
    mtl_graph_reset(g);
}

static mtl_tensor *zeros(mtl_graph *g, int64_t rows, int64_t cols)
{
    mtl_tensor *t = mtl_graph_input(g, 2, (int64_t[]){rows, cols});

    assert_non_null(t);
    memset(mtl_tensor_data(t), 0, (size_t)(rows * cols) * sizeof(float));
    return t;
}

static void test_no_kernels(void **state)
{
    static const int64_t idx[] = {0, 1};
    mtl_backend bare;
    const mtl_backend *saved;
    mtl_tensor *h, *c;
    mtl_graph *g;

    (void)state;
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    saved = g->be;
    bare = *saved;
    bare.name = "bare";
    bare.nn = NULL;
    g->be = &bare;

    assert_null(mtl_affine(g, zeros(g, 2, 3), zeros(g, 4, 3), NULL));
    expect_unsupported(g, "mtl_affine");
    assert_null(mtl_concat(g, 1, (mtl_tensor *[]){zeros(g, 2, 3)}));
    expect_unsupported(g, "mtl_concat");
    assert_null(mtl_mse_loss(g, zeros(g, 2, 3), zeros(g, 2, 3)));
    expect_unsupported(g, "mtl_mse_loss");
    assert_null(mtl_scatter_mean(g, zeros(g, 2, 3), mtl_graph_index(g, 2, idx, 2)));
    expect_unsupported(g, "mtl_scatter_mean");
    assert_null(mtl_edge_message(g, zeros(g, 2, 3), zeros(g, 2, 4), zeros(g, 6, 4), NULL,
                                 mtl_graph_index(g, 2, idx, 2)));
    expect_unsupported(g, "mtl_edge_message");
    assert_null(mtl_lstm_cell(g, zeros(g, 2, 3), zeros(g, 2, 1), zeros(g, 2, 1), zeros(g, 4, 3),
                              zeros(g, 4, 1), NULL, NULL, &h, &c));
    expect_unsupported(g, "mtl_lstm_cell");

    g->be = saved;
    mtl_graph_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_kernels),
    };
    return cmocka_run_group_tests_name("gnn_backend", tests, NULL, NULL);
}
