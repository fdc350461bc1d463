/*
 * stl - single-task learning: the loss is l_main alone (the other tasks'
 * heads get weight 0), and model selection uses that task's metrics (the
 * host reads mtl_method_info.single_task / main_task).  The reference's STL,
 * used for the single-task baselines of Delta_m.
 */
#include <stdlib.h>

#include "method_util.h"

typedef struct stl_method {
    int k;
    int main_task;
    double *c; /* one-hot */
} stl_method;

static const mtl_option stl_options[] = {
    {"main_task", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "index of the task to train (0 = first)"},
};

static void stl_destroy(void *self)
{
    stl_method *m = self;

    if (!m)
        return;
    free(m->c);
    free(m);
}

static mtl_status stl_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    stl_method *m;
    int64_t main_task;
    mtl_status st = host->config_int(host, "main_task", &main_task);

    if (st != MTL_OK)
        return st;
    if (main_task < 0 || main_task >= n_tasks)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "option 'main_task': no such task (expected 0..%d, got %lld)",
                             n_tasks - 1, (long long)main_task);

    m = calloc(1, sizeof *m);
    if (!m || !(m->c = calloc((size_t)n_tasks, sizeof *m->c))) {
        stl_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->main_task = (int)main_task;
    m->c[m->main_task] = 1.0;

    info->single_task = 1;
    info->main_task = m->main_task;
    *self = m;
    return MTL_OK;
}

static mtl_status stl_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    return MTL_OK;
}

static mtl_status stl_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    stl_method *m = self;

    mu_output_loss_weighted(out, m->c, m->k, in->losses[m->main_task]);
    return mu_output_check(out, m->k, 0);
}

static const mtl_method_plugin stl_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "stl",
    .version = "1.0",
    .description = "single-task learning: the loss of the main task alone",
    .reference = NULL,
    .options = stl_options,
    .n_options = sizeof stl_options / sizeof stl_options[0],
    .create = stl_create,
    .destroy = stl_destroy,
    .plan = stl_plan,
    .weigh = stl_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &stl_plugin;
}
