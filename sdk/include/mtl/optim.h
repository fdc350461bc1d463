/*
 * mtl/optim.h - Adam with parameter groups, as torch.optim.Adam computes it.
 *
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *
 * with weight decay (L2, added to g) when asked.  The host owns the
 * optimizer; groups let method parameters (uncertainty weighting) train with
 * their own learning rate.
 */
#ifndef MTL_OPTIM_H
#define MTL_OPTIM_H

#include <stddef.h>

#include "mtl/status.h"
#include "mtl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtl_adam mtl_adam;

typedef struct mtl_adam_config {
    double lr;           /* > 0 */
    double beta1, beta2; /* in [0, 1) */
    double eps;          /* > 0 */
    double weight_decay; /* >= 0 */
} mtl_adam_config;

/* PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay. */
mtl_adam_config mtl_adam_defaults(void);

mtl_status mtl_adam_create(mtl_adam **opt);
void mtl_adam_destroy(mtl_adam *opt);

/* Adds a group of tensors that have gradients (parameters); its index in
 * *group. */
mtl_status mtl_adam_add_group(mtl_adam *opt, const mtl_adam_config *cfg,
                              size_t n, mtl_tensor *const *params, int *group);

void mtl_adam_set_lr(mtl_adam *opt, int group, double lr);
double mtl_adam_get_lr(const mtl_adam *opt, int group);

/* One step of every group, from the parameters' accumulated gradients. */
mtl_status mtl_adam_step(mtl_adam *opt);

/*
 * The optimizer's state (step counts and moments) as bytes, for checkpoints:
 * with buf NULL, *len receives the size needed.
 */
mtl_status mtl_adam_state_save(const mtl_adam *opt, void *buf, size_t cap,
                               size_t *len);
mtl_status mtl_adam_state_load(mtl_adam *opt, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MTL_OPTIM_H */
