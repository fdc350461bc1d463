/*
 * Deliberately broken method plugins for the loader's tests, one per build
 * definition (tests/host/CMakeLists.txt):
 *
 *   FX_ABI2        built for ABI 2.0
 *   FX_NOENTRY     exports no entry symbol
 *   FX_SMALL       its struct is a bare header (16 bytes)
 *   FX_FAILCREATE  create() fails with its own reason
 *   FX_BADOPT      declares an option whose default does not parse
 */
#include <stdlib.h>

#include "mtl/method.h"

static mtl_status fx_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    (void)host;
    (void)n_tasks;
    (void)info;
#ifdef FX_FAILCREATE
    *self = NULL;
    return mtl_error_set(MTL_ERR_PLUGIN, "fixture: create refused on purpose (expected success, "
                                         "got a fixture built to fail)");
#else
    *self = malloc(1);
    return *self ? MTL_OK : MTL_ERR_NOMEM;
#endif
}

static void fx_destroy(void *self)
{
    free(self);
}

static mtl_status fx_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    plan->source = MTL_GRADS_SHARED;
    return MTL_OK;
}

static mtl_status fx_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    (void)self;
    for (int i = 0; i < in->n_tasks; i++)
        out->shared_weights[i] = out->head_weights[i] = 1;
    return MTL_OK;
}

#ifdef FX_BADOPT
static const mtl_option fx_options[] = {
    {"alpha", MTL_OPT_DOUBLE, "abc", NULL, 0, 0, 0, "a default that is no number"},
};
#endif

static const mtl_method_plugin fx_plugin = {
#ifdef FX_ABI2
    .header = {2, 0, (uint32_t)sizeof(mtl_method_plugin), MTL_PLUGIN_METHOD},
#else
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
#endif
    .name = FX_NAME,
    .version = "1.0",
    .description = "a broken fixture",
#ifdef FX_BADOPT
    .options = fx_options,
    .n_options = 1,
#endif
    .create = fx_create,
    .destroy = fx_destroy,
    .plan = fx_plan,
    .weigh = fx_weigh,
};

#ifdef FX_SMALL
static const mtl_plugin_header fx_small = {MTL_ABI_MAJOR, MTL_ABI_MINOR,
                                           (uint32_t)sizeof(mtl_plugin_header), MTL_PLUGIN_METHOD};
#endif

#ifdef FX_NOENTRY
MTL_EXPORT const mtl_method_plugin *fx_not_the_entry(void);

MTL_EXPORT const mtl_method_plugin *fx_not_the_entry(void)
{
    return &fx_plugin;
}
#else
MTL_EXPORT const void *mtl_method_entry(void);

MTL_EXPORT const void *mtl_method_entry(void)
{
#ifdef FX_SMALL
    (void)fx_plugin;
    return &fx_small;
#else
    return &fx_plugin;
#endif
}
#endif
