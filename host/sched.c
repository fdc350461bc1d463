/* Learning-rate schedules (see sched.h). */
#include "sched.h"

#include <math.h>
#include <string.h>

mtl_status host_sched_init(host_sched *s, const host_config *cfg)
{
    const char *kind;
    mtl_status st;

    memset(s, 0, sizeof *s);
    if ((st = host_config_string(cfg, -1, "mtlhost", "train.scheduler", &kind)) != MTL_OK ||
        (st = host_config_double(cfg, -1, "mtlhost", "train.factor", &s->factor)) != MTL_OK ||
        (st = host_config_double(cfg, -1, "mtlhost", "train.min_lr", &s->min_lr)) != MTL_OK ||
        (st = host_config_double(cfg, -1, "mtlhost", "train.gamma", &s->gamma)) != MTL_OK ||
        (st = host_config_int(cfg, -1, "mtlhost", "train.patience", &s->patience)) != MTL_OK ||
        (st = host_config_int(cfg, -1, "mtlhost", "train.step_size", &s->step_size)) != MTL_OK)
        return st;
    s->kind = strcmp(kind, "plateau") == 0 ? HOST_SCHED_PLATEAU
              : strcmp(kind, "step") == 0  ? HOST_SCHED_STEP
                                           : HOST_SCHED_NONE;
    host_sched_reset(s);
    return MTL_OK;
}

void host_sched_reset(host_sched *s)
{
    s->best = INFINITY;
    s->bad_epochs = 0;
    s->epochs_done = 0;
}

static void plateau(host_sched *s, mtl_adam *adam, int n_groups, double metric)
{
    /* torch's "rel" threshold for mode "min": better means below best * (1 - 1e-4). */
    if (metric < s->best * (1 - 1e-4)) {
        s->best = metric;
        s->bad_epochs = 0;
    } else {
        s->bad_epochs++;
    }
    if (s->bad_epochs <= s->patience)
        return;
    for (int g = 0; g < n_groups; g++) {
        double old = mtl_adam_get_lr(adam, g);
        double lr = fmax(old * s->factor, s->min_lr);
        if (old - lr > 1e-8)
            mtl_adam_set_lr(adam, g, lr);
    }
    s->bad_epochs = 0;
}

void host_sched_epoch_end(host_sched *s, mtl_adam *adam, int n_groups, double metric)
{
    s->epochs_done++;
    if (s->kind == HOST_SCHED_PLATEAU && !isnan(metric))
        plateau(s, adam, n_groups, metric);
    if (s->kind == HOST_SCHED_STEP && s->epochs_done % s->step_size == 0)
        for (int g = 0; g < n_groups; g++)
            mtl_adam_set_lr(adam, g, mtl_adam_get_lr(adam, g) * s->gamma);
}
