/*
 * Helpers of the convolutional tests.  Fixtures (tools/make_conv_fixtures.py
 * writes them to MTL_CONV_FIXTURE_DIR) and gradient checks come from the test
 * support library (fixture.h, gradcheck.h); what only these tests need is here.
 */
#ifndef MTL_CONV_TEST_H
#define MTL_CONV_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "gradcheck.h"
#include "mtl/mtl.h"

#ifndef MTL_CONV_FIXTURE_DIR
#error "MTL_CONV_FIXTURE_DIR must be defined"
#endif

/*
 * Fills t with a random permutation of the values offset + spacing * i, so
 * that every two values differ by at least `spacing` (no ties, no kinks
 * within reach of a finite-difference step smaller than spacing / 2).
 */
void ct_fill_spread(mtl_tensor *t, mtl_rng *rng, double offset, double spacing);

#endif /* MTL_CONV_TEST_H */
