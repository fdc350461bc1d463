/*
 * constw: a method plugin with constant weights, written as an outside
 * author would, against the installed SDK only.  Every task gets the weight
 * of the [method] key `weight` (default 1): the update follows
 * weight * sum_i l_i, from the losses alone.
 */
#include <stdlib.h>

#include <mtl/method.h>

typedef struct constw {
    double weight;
} constw;

static const mtl_option constw_options[] = {
    {"weight", MTL_OPT_DOUBLE, "1", NULL, MTL_OPT_HAS_MIN | MTL_OPT_MIN_EXCLUSIVE, 0, 0,
     "the weight of every task"},
};

static mtl_status constw_create(const mtl_host *host, int n_tasks, void **self,
                                mtl_method_info *info)
{
    constw *c = calloc(1, sizeof *c);
    mtl_status st;

    (void)n_tasks;
    (void)info;
    if (!c)
        return mtl_error_set(MTL_ERR_NOMEM, "constw: out of memory");
    st = host->config_double(host, "weight", &c->weight);
    if (st != MTL_OK) {
        free(c);
        return st;
    }
    *self = c;
    return MTL_OK;
}

static void constw_destroy(void *self)
{
    free(self);
}

static mtl_status constw_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    plan->source = MTL_GRADS_SHARED;
    return MTL_OK;
}

static mtl_status constw_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    const constw *c = self;

    out->loss = 0;
    for (int i = 0; i < in->n_tasks; i++) {
        out->shared_weights[i] = c->weight;
        out->head_weights[i] = c->weight;
        if (out->weights)
            out->weights[i] = c->weight;
        out->loss += c->weight * in->losses[i];
    }
    return MTL_OK;
}

static const mtl_method_plugin constw_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "constw",
    .version = "1.0",
    .description = "constant task weights (out-of-tree SDK test)",
    .reference = NULL,
    .options = constw_options,
    .n_options = sizeof constw_options / sizeof constw_options[0],
    .create = constw_create,
    .destroy = constw_destroy,
    .plan = constw_plan,
    .weigh = constw_weigh,
    .state_save = NULL,
    .state_load = NULL,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void)
{
    return &constw_plugin;
}
