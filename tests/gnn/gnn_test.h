/*
 * Helpers of the graph-network tests.  Fixtures (tools/make_gnn_fixtures.py
 * writes them to MTL_GNN_FIXTURE_DIR) and gradient checks come from the test
 * support library (fixture.h, gradcheck.h); what only these tests need is here.
 */
#ifndef MTL_GNN_TEST_H
#define MTL_GNN_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "fixture.h"
#include "gradcheck.h"
#include "mtl/mtl.h"

#ifndef MTL_GNN_FIXTURE_DIR
#error "MTL_GNN_FIXTURE_DIR must be defined"
#endif

/* An index from a fixture tensor of integral values, over `range`. */
mtl_index *gnn_index(mtl_graph *g, const mtl_test_fixture *fx, const char *name, int64_t range);

/* A shared parameter of shape {d0} (d1 <= 0) or {d0, d1}, filled uniform in [-1, 1). */
mtl_tensor *gnn_new_param(mtl_model *m, const char *name, int64_t d0, int64_t d1, mtl_rng *rng);

#endif /* MTL_GNN_TEST_H */
