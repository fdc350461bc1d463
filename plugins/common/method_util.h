/*
 * plugins/common/method_util.h - small helpers every method plugin shares:
 * checks of the host's inputs, filling the outputs, the task-weight list
 * option, zero-gradient detection and the byte layout of saved states.
 *
 * Compiled into each plugin (hidden symbols), so a plugin stays one .so.
 */
#ifndef MTL_PLUGINS_METHOD_UTIL_H
#define MTL_PLUGINS_METHOD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/mtl.h"

/*
 * A task whose gradient has squared norm M_ii <= MU_ZERO_GRAD_REL times the
 * largest M_jj (or exactly 0) counts as having a zero gradient: its norm is
 * 1e-15 of the largest, below any float32 gradient's resolution.
 */
#define MU_ZERO_GRAD_REL 1e-30

/* Fails (MTL_ERR_INVALID) when the plan asked for a Gram matrix and got none
 * or one with a non-finite entry. */
mtl_status mu_gram_check(const mtl_method_input *in);

/*
 * Marks in zero[i] (1/0) the tasks with a zero gradient (MU_ZERO_GRAD_REL)
 * and returns how many there are.
 */
int mu_zero_tasks(const double *gram, int k, unsigned char *zero);

/*
 * Fills shared = head = reported weights = c (a loss-weighted method, whose
 * objective's derivative wrt l_i is c_i), and the logged loss.
 */
void mu_output_loss_weighted(mtl_method_output *out, const double *c, int k, double loss);

/* Writes the reported weights when the host asked for them (out->weights). */
void mu_output_report(mtl_method_output *out, const double *w, int k);

/*
 * Fails (MTL_ERR_NUMERIC) when a coefficient the method is about to return
 * is not finite: no NaN or inf may leave a method.
 */
mtl_status mu_output_check(const mtl_method_output *out, int k, size_t n_params);

/*
 * Reads the list option `key` of per-task weights into w (k values).  An
 * empty list means all ones; another length than k is a configuration
 * error naming both lengths.
 */
mtl_status mu_task_weights_read(const mtl_host *host, const char *key, int k, double *w);

/*
 * Reads the MTL_OPT_ENUM option `key` declared in `options` and puts the
 * index of its value among the declared choices ("sum|mean": 0 or 1) in
 * *index.  The host validates enums first; this repeats the check so that a
 * plugin never runs on a value it does not know.
 */
mtl_status mu_enum_read(const mtl_host *host, const mtl_option *options, size_t n_options,
                        const char *key, int *index);

/* Softmax of z / temp into w, shifted by max(z) so that exp cannot overflow. */
void mu_softmax(const double *z, int k, double temp, double *w);

/*
 * Saved states: a 16-byte header (magic "MTLM", the method's 4-character
 * tag, a layout version and the number of tasks) followed by the payload.
 * mu_state_save follows the state_save contract (buf NULL: size in *len).
 */
#define MU_STATE_HEADER 16u /* the payload follows, in native byte order */

mtl_status mu_state_save(const char tag[4], uint32_t version, int k, const void *payload,
                         size_t n_payload, void *buf, size_t cap, size_t *len);

/* Checks the header and size and returns the payload (inside buf). */
mtl_status mu_state_open(const char tag[4], uint32_t version, int k, const void *buf, size_t len,
                         size_t n_payload, const unsigned char **payload);

#endif /* MTL_PLUGINS_METHOD_UTIL_H */
