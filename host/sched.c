/* Learning-rate schedules (see sched.h). */
#include "sched.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "log.h"

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

/*
 * Sets group g's lr unless it would leave (0, inf): gamma = 1e300 gave inf, gamma = 1e-300
 * (or factor with min_lr = 0, many times) 0 or a denormal, which Adam cannot step with.
 */
static void set_lr(host_sched *s, mtl_adam *adam, int g, double lr, const char *why)
{
    double old = mtl_adam_get_lr(adam, g);

    if (isfinite(lr) && lr >= DBL_MIN) {
        mtl_adam_set_lr(adam, g, lr);
        return;
    }
    s->refused++;
    if (s->refused == 1)
        host_log(MTL_LOG_WARN, "mtlhost",
                 "scheduler: lr not changed after epoch %lld: %s would be %g (expected a finite "
                 "lr > 0); lr stays %g (reported once)",
                 (long long)s->epochs_done, why, lr, old);
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
            set_lr(s, adam, g, lr, "lr * train.factor");
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
            set_lr(s, adam, g, mtl_adam_get_lr(adam, g) * s->gamma, "lr * train.gamma");
}
