/* Helpers of the convolutional tests (conv_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>

#include "conv_test.h"

void ct_fill_spread(mtl_tensor *t, mtl_rng *rng, double offset, double spacing)
{
    int64_t n = mtl_tensor_numel(t);
    int64_t *order = malloc((size_t)n * sizeof *order);
    float *v = malloc((size_t)n * sizeof *v);

    assert_non_null(order);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    mtl_rng_shuffle(rng, order, (size_t)n);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(offset + spacing * (double)order[i]);
    assert_int_equal(mtl_tensor_write(t, v, (size_t)n), MTL_OK);
    free(v);
    free(order);
}
