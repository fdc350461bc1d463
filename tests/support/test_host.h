/*
 * Test support: load a plugin's entry struct from a built .so, and a small
 * stand-in for the host's services, so that method and task plugins can be
 * exercised directly by unit tests.
 *
 * The stand-in host answers config lookups from the plugin's declared
 * defaults, overridden by "key=value" strings (own section) or
 * "section.key=value" strings (other sections, which need no declaration).
 */
#ifndef MTL_TEST_HOST_H
#define MTL_TEST_HOST_H

#include <stddef.h>

#include "mtl/mtl.h"

/* Folder of the built plugins, set by tests/CMakeLists.txt. */
#ifndef MTL_TEST_PLUGIN_DIR
#error "MTL_TEST_PLUGIN_DIR must be defined"
#endif

/* Loads build/plugins/<name>.so; fails the test when it cannot. */
const mtl_method_plugin *mtl_test_load_method(const char *name);
const mtl_task_plugin *mtl_test_load_task(const char *name);

#define MTL_TEST_MAX_OVERRIDES 32

typedef struct mtl_test_host {
    mtl_host host;
    const mtl_option *options;
    size_t n_options;
    const char *overrides[MTL_TEST_MAX_OVERRIDES];
    size_t n_overrides;
    mtl_rng rng;
    double list[64]; /* storage for config_doubles */
    int log_count;   /* lines logged through host.log */
    char last_log[512];
} mtl_test_host;

/*
 * Prepares a stand-in host for a plugin with these options; `overrides` is a
 * NULL-terminated list (or NULL).  The rng is seeded with `seed`.
 */
void mtl_test_host_init(mtl_test_host *th, const mtl_option *options, size_t n_options,
                        const char *const *overrides, uint64_t seed);

#endif /* MTL_TEST_HOST_H */
