/*
 * The trainer's checkpoints (see train.h and ckpt.h).  Sections:
 *
 *   META  method and task names, the [train]/[method]/[task] configuration
 *         (host_config_fingerprint), numbers of tasks and metrics
 *   POS   trial, epoch, next batch, inside an epoch or after it, the run's
 *         training batches so far, the epoch's seconds so far
 *   TRNR  the trainer's counters and sums, the best score and the selected
 *         epoch so far, what was logged once
 *   SCHD  the learning-rate schedule's state
 *   RNGS  the task's stream now and at the start of the epoch's training
 *         pass, the method's stream now
 *   MODL  every parameter (name, shape, values) and buffer (shape, values)
 *   MPAR  the method's parameters
 *   ADAM  mtl_adam_state_save's bytes (moments, step counts, learning rates)
 *   MSTA  the method's state_save bytes (when it has state_save)
 *   TSTA  the task's state_save bytes (when it has state_save)
 *   RUN   the metrics rows, steps, results and TensorBoard events so far
 *
 * A checkpoint inside an epoch is resumed by restoring the task's stream of
 * the epoch's start, calling epoch_begin(TRAIN) again (the same batch order),
 * then loading every state and going on with the next batch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt.h"
#include "loader.h"
#include "log.h"
#include "run.h"
#include "train_internal.h"

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void put_rng(host_buf *b, const mtl_rng *r)
{
    for (int i = 0; i < 4; i++)
        host_put_u64(b, r->s[i]);
}

static void get_rng(host_reader *r, mtl_rng *out)
{
    for (int i = 0; i < 4; i++)
        out->s[i] = host_get_u64(r);
}

/* ---- writing ---------------------------------------------------------- */

static void save_meta(trainer *tr, host_buf *b)
{
    host_buf fp = {0};

    host_config_fingerprint(tr->ctx->env->cfg, &fp);
    host_put_str(b, tr->ctx->method->plugin->name);
    host_put_str(b, tr->tp->name);
    host_put_str(b, host_buf_str(&fp));
    host_put_u32(b, (uint32_t)tr->k);
    host_put_u32(b, (uint32_t)tr->nm);
    if (fp.failed)
        b->failed = 1;
    host_buf_free(&fp);
}

static void save_trainer(trainer *tr, host_buf *b)
{
    host_put_i64(b, tr->step);
    host_put_i64(b, tr->bad_in_row);
    host_put_i64(b, tr->trial_steps);
    host_put_i64(b, tr->trial_skipped);
    host_put_i64(b, tr->trial_failures);
    host_put_i64(b, tr->epoch_steps);
    host_put_i64(b, tr->epoch_skipped);
    host_put_i64(b, tr->epoch_failures);
    host_put_f64(b, tr->method_loss_sum);
    host_put_f64s(b, tr->loss_sum, (size_t)tr->k);
    host_put_f64s(b, tr->weight_sum, (size_t)tr->k);
    host_put_u32(b, (uint32_t)tr->have_best);
    host_put_f64(b, tr->best_score);
    host_put_u32(b, (uint32_t)tr->has_selected);
    if (tr->has_selected)
        host_run_save_record(b, tr->ctx->run, &tr->selected);
    host_put_u32(b, (uint32_t)tr->logged_skip);
    host_put_u32(b, (uint32_t)tr->logged_failure);
}

static mtl_status save_tensor(host_buf *b, mtl_tensor *t, const char *name, float **scratch,
                              size_t *cap)
{
    size_t n = (size_t)mtl_tensor_numel(t);
    int nd = mtl_tensor_ndim(t);
    mtl_status st;

    if (n > *cap) {
        float *grown = realloc(*scratch, n * sizeof *grown);
        if (!grown)
            return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory: %zu values", n);
        *scratch = grown;
        *cap = n;
    }
    if ((st = mtl_tensor_read(t, *scratch, n)) != MTL_OK)
        return st;
    host_put_str(b, name);
    host_put_u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++)
        host_put_i64(b, mtl_tensor_dim(t, i));
    host_put_f32s(b, *scratch, n);
    return MTL_OK;
}

static mtl_status save_model(trainer *tr, host_buf *b)
{
    mtl_model *model = tr->ti->model;
    size_t np = mtl_model_n_params(model), nb = mtl_model_n_buffers(model), cap = 0;
    float *scratch = NULL;
    mtl_status st = MTL_OK;

    host_put_u64(b, np);
    for (size_t i = 0; st == MTL_OK && i < np; i++) {
        mtl_param_info info = {0};
        mtl_tensor *p = mtl_model_param_at(model, i);
        mtl_param_get_info(p, &info);
        st = save_tensor(b, p, info.name ? info.name : "", &scratch, &cap);
    }
    host_put_u64(b, nb);
    for (size_t i = 0; st == MTL_OK && i < nb; i++)
        st = save_tensor(b, mtl_model_buffer_at(model, i), "", &scratch, &cap);
    free(scratch);
    return st;
}

static mtl_status save_method_params(trainer *tr, host_buf *b)
{
    mtl_tensor *p = host_engine_method_params(tr->engine);
    size_t n = p ? (size_t)mtl_tensor_numel(p) : 0;
    float *v = calloc(n ? n : 1, sizeof *v);
    mtl_status st = v ? MTL_OK : mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory");

    if (st == MTL_OK && n)
        st = mtl_tensor_read(p, v, n);
    host_put_u64(b, n);
    host_put_f32s(b, v, n);
    free(v);
    return st;
}

/* A plugin's state_save bytes as a blob. */
typedef mtl_status (*state_save_fn)(void *self, void *buf, size_t cap, size_t *len);

static mtl_status save_state(host_buf *b, state_save_fn fn, void *self, const char *who)
{
    size_t len = 0, got = 0;
    void *buf;
    mtl_status st = fn(self, NULL, 0, &len);

    if (st != MTL_OK)
        return mtl_error_wrap(st, "%s: state_save", who);
    buf = malloc(len ? len : 1);
    if (!buf)
        return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory: %zu bytes of %s state", len,
                             who);
    st = fn(self, buf, len, &got);
    if (st == MTL_OK && got > len)
        st = mtl_error_set(MTL_ERR_PLUGIN,
                           "%s broke its contract: state_save wrote %zu bytes (expected at most "
                           "%zu)",
                           who, got, len);
    else if (st != MTL_OK)
        st = mtl_error_wrap(st, "%s: state_save", who);
    if (st == MTL_OK)
        host_put_blob(b, buf, got);
    free(buf);
    return st;
}

static mtl_status save_adam(trainer *tr, host_buf *b)
{
    mtl_adam *adam = host_engine_adam(tr->engine);
    size_t len = 0;
    void *buf;
    mtl_status st = mtl_adam_state_save(adam, NULL, 0, &len);

    if (st != MTL_OK)
        return st;
    buf = malloc(len ? len : 1);
    if (!buf)
        return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory: optimizer state");
    st = mtl_adam_state_save(adam, buf, len, &len);
    if (st == MTL_OK)
        host_put_blob(b, buf, len);
    free(buf);
    return st;
}

static mtl_status add_section(trainer *tr, const char tag[4], host_buf *payload)
{
    mtl_status st = host_buf_status(payload, "checkpoint");

    if (st == MTL_OK)
        host_ckpt_section(&tr->ckpt, tag, payload);
    host_buf_clear(payload);
    return st;
}

static mtl_status build(trainer *tr, int in_epoch, int64_t next_batch, host_buf *p)
{
    const mtl_method_plugin *mp = tr->ctx->method->plugin;
    mtl_status st;

    save_meta(tr, p);
    if ((st = add_section(tr, "META", p)) != MTL_OK)
        return st;
    host_put_u32(p, (uint32_t)tr->trial);
    host_put_i64(p, in_epoch ? tr->epoch : tr->epoch + 1);
    host_put_i64(p, next_batch);
    host_put_u32(p, (uint32_t)in_epoch);
    host_put_i64(p, tr->global_step);
    host_put_f64(p, now_seconds() - tr->epoch_t0);
    if ((st = add_section(tr, "POS ", p)) != MTL_OK)
        return st;
    save_trainer(tr, p);
    if ((st = add_section(tr, "TRNR", p)) != MTL_OK)
        return st;
    host_put_f64(p, tr->sched.best);
    host_put_i64(p, tr->sched.bad_epochs);
    host_put_i64(p, tr->sched.epochs_done);
    if ((st = add_section(tr, "SCHD", p)) != MTL_OK)
        return st;
    put_rng(p, &tr->ctx->task->svc.rng);
    put_rng(p, &tr->epoch_rng);
    put_rng(p, &tr->ctx->method->svc.rng);
    if ((st = add_section(tr, "RNGS", p)) != MTL_OK)
        return st;
    if ((st = save_model(tr, p)) != MTL_OK || (st = add_section(tr, "MODL", p)) != MTL_OK)
        return st;
    if ((st = save_method_params(tr, p)) != MTL_OK || (st = add_section(tr, "MPAR", p)) != MTL_OK)
        return st;
    if ((st = save_adam(tr, p)) != MTL_OK || (st = add_section(tr, "ADAM", p)) != MTL_OK)
        return st;
    if (mp->state_save &&
        ((st = save_state(p, mp->state_save, tr->ctx->method->self, mp->name)) != MTL_OK ||
         (st = add_section(tr, "MSTA", p)) != MTL_OK))
        return st;
    if (host_task_has_state(tr->tp) &&
        ((st = save_state(p, tr->tp->state_save, tr->ctx->task->self, tr->tp->name)) != MTL_OK ||
         (st = add_section(tr, "TSTA", p)) != MTL_OK))
        return st;
    host_run_state_save(tr->ctx->run, p);
    return add_section(tr, "RUN ", p);
}

mtl_status host_trainer_checkpoint(trainer *tr, int in_epoch, int64_t next_batch)
{
    host_buf payload = {0};
    const char *dir = host_run_dir(tr->ctx->run);
    size_t n = strlen(dir) + sizeof HOST_CKPT_FILE + 2;
    char *path = malloc(n);
    mtl_status st;

    if (!path)
        return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory");
    snprintf(path, n, "%s/%s", dir, HOST_CKPT_FILE);
    host_ckpt_begin(&tr->ckpt);
    st = build(tr, in_epoch, next_batch, &payload);
    host_buf_free(&payload);
    if (st == MTL_OK)
        st = host_ckpt_end(&tr->ckpt);
    if (st == MTL_OK)
        st = host_write_atomic(path, tr->ckpt.data, tr->ckpt.len);
    if (st == MTL_OK)
        tr->have_ckpt = 1;
    free(path);
    return st;
}

/* ---- checking --------------------------------------------------------- */

static mtl_status mismatch(const host_ckpt *ck, const char *what)
{
    return mtl_error_set(MTL_ERR_DATA, "checkpoint: does not fit this run: %s: %s", ck->path, what);
}

/* The first line where two fingerprints differ, as "x.y = a (checkpoint: x.y = b)". */
static void first_difference(const char *now, const char *then, char *buf, size_t cap)
{
    while (*now || *then) {
        size_t a = strcspn(now, "\n"), b = strcspn(then, "\n");
        if (a != b || strncmp(now, then, a) != 0) {
            snprintf(buf, cap, "%.*s (the checkpoint has %.*s)", (int)a, now, (int)b, then);
            return;
        }
        now += a + (now[a] != '\0');
        then += b + (then[b] != '\0');
    }
    snprintf(buf, cap, "?");
}

static mtl_status check_meta(const host_train_ctx *ctx, const host_ckpt *ck)
{
    char method[256], task[256], detail[1024];
    host_buf now = {0}, then = {0};
    host_reader r;
    uint32_t k, m;
    mtl_status st = host_ckpt_find(ck, "META", &r);
    size_t n;
    const char *fp;

    if (st != MTL_OK)
        return st;
    host_get_str(&r, method, sizeof method);
    host_get_str(&r, task, sizeof task);
    fp = host_get_blob(&r, &n);
    k = host_get_u32(&r);
    m = host_get_u32(&r);
    if ((st = host_reader_status(&r, ck, "META")) != MTL_OK)
        return st;
    if (strcmp(method, ctx->method->plugin->name) != 0 || strcmp(task, ctx->task->plugin->name))
        return mtl_error_set(MTL_ERR_DATA,
                             "checkpoint: does not fit this run: %s: written by method %s on "
                             "task %s (expected method %s on task %s)",
                             ck->path, method, task, ctx->method->plugin->name,
                             ctx->task->plugin->name);
    if (k != (uint32_t)ctx->task->info.n_tasks || m != (uint32_t)ctx->task->info.n_metrics) {
        snprintf(detail, sizeof detail, "%u tasks and %u metrics (expected %d and %d)", k, m,
                 ctx->task->info.n_tasks, ctx->task->info.n_metrics);
        return mismatch(ck, detail);
    }
    host_config_fingerprint(ctx->env->cfg, &now);
    host_buf_append(&then, fp, n);
    st = host_buf_status(&now, "checkpoint");
    if (st == MTL_OK && strcmp(host_buf_str(&now), host_buf_str(&then)) != 0) {
        char diff[900];
        first_difference(host_buf_str(&now), host_buf_str(&then), diff, sizeof diff);
        snprintf(detail, sizeof detail, "the configuration differs: %s", diff);
        st = mismatch(ck, detail);
    }
    host_buf_free(&now);
    host_buf_free(&then);
    return st;
}

static void shape_text(char *buf, size_t cap, int nd, const int64_t *dims)
{
    size_t len = 0;

    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

/* Reads one tensor's header and checks it against t; skips its values. */
static mtl_status check_tensor(const host_ckpt *ck, host_reader *r, mtl_tensor *t, const char *kind,
                               size_t index, const char *name)
{
    char got_name[256], want[128], got[128], detail[768];
    int64_t dims[MTL_MAX_DIMS] = {0}, want_dims[MTL_MAX_DIMS] = {0};
    int nd = mtl_tensor_ndim(t), same;
    uint32_t got_nd;
    int64_t numel = 1;

    host_get_str(r, got_name, sizeof got_name);
    got_nd = host_get_u32(r);
    if (r->failed || got_nd > MTL_MAX_DIMS)
        return host_reader_status(r, ck, "MODL");
    for (uint32_t i = 0; i < got_nd; i++) {
        dims[i] = host_get_i64(r);
        numel *= dims[i];
    }
    for (int i = 0; i < nd; i++)
        want_dims[i] = mtl_tensor_dim(t, i);
    same = (int)got_nd == nd && memcmp(dims, want_dims, sizeof dims) == 0;
    if (strcmp(got_name, name) != 0 || !same) {
        shape_text(want, sizeof want, nd, want_dims);
        shape_text(got, sizeof got, (int)got_nd, dims);
        snprintf(detail, sizeof detail, "%s %zu is '%s' %s (expected '%s' %s)", kind, index,
                 got_name, got, name, want);
        return mismatch(ck, detail);
    }
    if (numel < 0 || r->len - r->at < (size_t)numel * 4) {
        r->failed = 1;
        return host_reader_status(r, ck, "MODL");
    }
    r->at += (size_t)numel * 4;
    return MTL_OK;
}

static mtl_status check_model(const host_train_ctx *ctx, const host_ckpt *ck)
{
    mtl_model *model = ctx->task->info.model;
    size_t np = mtl_model_n_params(model), nb = mtl_model_n_buffers(model);
    char detail[256];
    host_reader r;
    uint64_t n;
    mtl_status st = host_ckpt_find(ck, "MODL", &r);

    if (st != MTL_OK)
        return st;
    n = host_get_u64(&r);
    if (n != np) {
        snprintf(detail, sizeof detail, "the model has %zu parameters (the checkpoint has %llu)",
                 np, (unsigned long long)n);
        return mismatch(ck, detail);
    }
    for (size_t i = 0; i < np; i++) {
        mtl_param_info info = {0};
        mtl_tensor *p = mtl_model_param_at(model, i);
        mtl_param_get_info(p, &info);
        if ((st = check_tensor(ck, &r, p, "parameter", i, info.name ? info.name : "")) != MTL_OK)
            return st;
    }
    n = host_get_u64(&r);
    if (n != nb) {
        snprintf(detail, sizeof detail, "the model has %zu buffers (the checkpoint has %llu)", nb,
                 (unsigned long long)n);
        return mismatch(ck, detail);
    }
    for (size_t i = 0; i < nb; i++)
        if ((st = check_tensor(ck, &r, mtl_model_buffer_at(model, i), "buffer", i, "")) != MTL_OK)
            return st;
    return host_reader_status(&r, ck, "MODL");
}

static mtl_status check_states(const host_train_ctx *ctx, const host_ckpt *ck)
{
    int method_state = ctx->method->plugin->state_save != NULL;
    int task_state = host_task_has_state(ctx->task->plugin);
    static const char *const tags[] = {"POS ", "TRNR", "SCHD", "RNGS", "MPAR", "ADAM", "RUN "};
    char detail[256];

    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (!host_ckpt_has(ck, tags[i]))
            return host_ckpt_find(ck, tags[i], &(host_reader){0});
    if (host_ckpt_has(ck, "MSTA") != method_state || host_ckpt_has(ck, "TSTA") != task_state) {
        snprintf(detail, sizeof detail,
                 "it has %s method state and %s task state (expected %s and %s)",
                 host_ckpt_has(ck, "MSTA") ? "a" : "no", host_ckpt_has(ck, "TSTA") ? "a" : "no",
                 method_state ? "one" : "none", task_state ? "one" : "none");
        return mismatch(ck, detail);
    }
    return MTL_OK;
}

static mtl_status check_position(const host_train_ctx *ctx, const host_ckpt *ck)
{
    int n_trials = ctx->task->info.n_trials > 0 ? ctx->task->info.n_trials : 1;
    host_reader r;
    uint32_t trial;
    char detail[256];

    host_ckpt_find(ck, "POS ", &r);
    trial = host_get_u32(&r);
    if (r.failed)
        return host_reader_status(&r, ck, "POS ");
    if (trial >= (uint32_t)n_trials) {
        snprintf(detail, sizeof detail, "it stands at trial %u (expected 0 to %d)", trial,
                 n_trials - 1);
        return mismatch(ck, detail);
    }
    return MTL_OK;
}

mtl_status host_train_check_checkpoint(const host_train_ctx *ctx, const host_ckpt *ck)
{
    mtl_status st;

    if ((st = check_meta(ctx, ck)) != MTL_OK || (st = check_states(ctx, ck)) != MTL_OK ||
        (st = check_position(ctx, ck)) != MTL_OK)
        return st;
    return check_model(ctx, ck);
}

void host_train_checkpoint_position(const host_ckpt *ck, char *buf, size_t cap)
{
    host_reader r;
    uint32_t trial, in_epoch;
    int64_t epoch, batch;

    host_ckpt_find(ck, "POS ", &r);
    trial = host_get_u32(&r);
    epoch = host_get_i64(&r);
    batch = host_get_i64(&r);
    in_epoch = host_get_u32(&r);
    if (in_epoch)
        snprintf(buf, cap, "trial %u, epoch %lld, before batch %lld", trial + 1,
                 (long long)epoch + 1, (long long)batch + 1);
    else
        snprintf(buf, cap, "trial %u, after epoch %lld", trial + 1, (long long)epoch);
}

/* ---- restoring -------------------------------------------------------- */

static mtl_status load_tensor(host_reader *r, mtl_tensor *t, float **scratch, size_t *cap)
{
    char name[256];
    uint32_t nd;
    size_t n = (size_t)mtl_tensor_numel(t);

    host_get_str(r, name, sizeof name);
    nd = host_get_u32(r);
    for (uint32_t i = 0; i < nd && i < MTL_MAX_DIMS; i++)
        host_get_i64(r);
    if (n > *cap) {
        float *grown = realloc(*scratch, n * sizeof *grown);
        if (!grown)
            return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory: %zu values", n);
        *scratch = grown;
        *cap = n;
    }
    host_get_f32s(r, *scratch, n);
    if (r->failed)
        return MTL_ERR_DATA;
    return mtl_tensor_write(t, *scratch, n);
}

static mtl_status load_model(trainer *tr, host_reader *r)
{
    mtl_model *model = tr->ti->model;
    size_t np = mtl_model_n_params(model), nb = mtl_model_n_buffers(model), cap = 0;
    float *scratch = NULL;
    mtl_status st = MTL_OK;

    host_get_u64(r);
    for (size_t i = 0; st == MTL_OK && i < np; i++)
        st = load_tensor(r, mtl_model_param_at(model, i), &scratch, &cap);
    if (st == MTL_OK)
        host_get_u64(r);
    for (size_t i = 0; st == MTL_OK && i < nb; i++)
        st = load_tensor(r, mtl_model_buffer_at(model, i), &scratch, &cap);
    free(scratch);
    return st;
}

static mtl_status load_method_params(trainer *tr, host_reader *r, const host_ckpt *ck)
{
    mtl_tensor *p = host_engine_method_params(tr->engine);
    size_t want = p ? (size_t)mtl_tensor_numel(p) : 0;
    uint64_t n = host_get_u64(r);
    float *v;
    mtl_status st;

    if (n != want) {
        char detail[128];
        snprintf(detail, sizeof detail, "the method has %zu parameters (the checkpoint has %llu)",
                 want, (unsigned long long)n);
        return mismatch(ck, detail);
    }
    if (!want)
        return MTL_OK;
    v = calloc(want, sizeof *v);
    if (!v)
        return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory");
    host_get_f32s(r, v, want);
    st = r->failed ? MTL_ERR_DATA : mtl_tensor_write(p, v, want);
    free(v);
    return st;
}

static mtl_status load_blob(const host_ckpt *ck, const char tag[4], const void **data, size_t *n)
{
    host_reader r;
    mtl_status st = host_ckpt_find(ck, tag, &r);

    if (st != MTL_OK)
        return st;
    *data = host_get_blob(&r, n);
    return host_reader_status(&r, ck, tag);
}

static mtl_status load_plugin_states(trainer *tr, const host_ckpt *ck)
{
    const mtl_method_plugin *mp = tr->ctx->method->plugin;
    const void *data;
    size_t n;
    mtl_status st;

    if ((st = load_blob(ck, "ADAM", &data, &n)) != MTL_OK)
        return st;
    if ((st = mtl_adam_state_load(host_engine_adam(tr->engine), data, n)) != MTL_OK)
        return mtl_error_wrap(st, "checkpoint: %s", ck->path);
    if (mp->state_save && mp->state_load) {
        if ((st = load_blob(ck, "MSTA", &data, &n)) != MTL_OK)
            return st;
        if ((st = mp->state_load(tr->ctx->method->self, data, n)) != MTL_OK)
            return mtl_error_wrap(st, "%s: state_load", mp->name);
    }
    if (host_task_has_state(tr->tp)) {
        if ((st = load_blob(ck, "TSTA", &data, &n)) != MTL_OK)
            return st;
        if ((st = tr->tp->state_load(tr->ctx->task->self, data, n)) != MTL_OK)
            return mtl_error_wrap(st, "%s: state_load", tr->tp->name);
    }
    return MTL_OK;
}

static mtl_status load_trainer(trainer *tr, host_reader *r, const host_ckpt *ck)
{
    mtl_status st = MTL_OK;

    tr->step = host_get_i64(r);
    tr->bad_in_row = host_get_i64(r);
    tr->trial_steps = host_get_i64(r);
    tr->trial_skipped = host_get_i64(r);
    tr->trial_failures = host_get_i64(r);
    tr->epoch_steps = host_get_i64(r);
    tr->epoch_skipped = host_get_i64(r);
    tr->epoch_failures = host_get_i64(r);
    tr->method_loss_sum = host_get_f64(r);
    host_get_f64s(r, tr->loss_sum, (size_t)tr->k);
    host_get_f64s(r, tr->weight_sum, (size_t)tr->k);
    tr->have_best = (int)host_get_u32(r);
    tr->best_score = host_get_f64(r);
    tr->has_selected = (int)host_get_u32(r);
    if (tr->has_selected)
        st = host_run_load_record(r, tr->ctx->run, &tr->selected, tr->selected_values);
    tr->logged_skip = (int)host_get_u32(r);
    tr->logged_failure = (int)host_get_u32(r);
    if (st == MTL_OK)
        st = host_reader_status(r, ck, "TRNR");
    return st;
}

static mtl_status load_counters(trainer *tr, const host_ckpt *ck)
{
    host_reader r;
    mtl_status st;

    if ((st = host_ckpt_find(ck, "TRNR", &r)) != MTL_OK ||
        (st = load_trainer(tr, &r, ck)) != MTL_OK)
        return st;
    if ((st = host_ckpt_find(ck, "SCHD", &r)) != MTL_OK)
        return st;
    tr->sched.best = host_get_f64(&r);
    tr->sched.bad_epochs = host_get_i64(&r);
    tr->sched.epochs_done = host_get_i64(&r);
    if ((st = host_reader_status(&r, ck, "SCHD")) != MTL_OK)
        return st;
    if ((st = host_ckpt_find(ck, "RUN ", &r)) != MTL_OK)
        return st;
    if (host_run_state_load(tr->ctx->run, &r) != MTL_OK)
        return r.failed ? host_reader_status(&r, ck, "RUN ")
                        : mtl_error_wrap(MTL_ERR_DATA, "checkpoint: %s", ck->path);
    return MTL_OK;
}

mtl_status host_trainer_restore(trainer *tr, int64_t *first, int64_t *n)
{
    const host_ckpt *ck = tr->ctx->resume;
    mtl_rng task_now, method_now;
    host_reader pos, rngs, r;
    uint32_t in_epoch;
    double elapsed;
    mtl_status st;

    if ((st = host_ckpt_find(ck, "POS ", &pos)) != MTL_OK ||
        (st = host_ckpt_find(ck, "RNGS", &rngs)) != MTL_OK)
        return st;
    host_get_u32(&pos);
    tr->epoch = host_get_i64(&pos);
    *first = host_get_i64(&pos);
    in_epoch = host_get_u32(&pos);
    tr->global_step = host_get_i64(&pos);
    elapsed = host_get_f64(&pos);
    get_rng(&rngs, &task_now);
    get_rng(&rngs, &tr->epoch_rng);
    get_rng(&rngs, &method_now);
    if ((st = host_reader_status(&pos, ck, "POS ")) != MTL_OK ||
        (st = host_reader_status(&rngs, ck, "RNGS")) != MTL_OK)
        return st;

    /* Inside an epoch: its training pass again, from the stream it started with. */
    *n = -1;
    if (in_epoch) {
        tr->ctx->task->svc.rng = tr->epoch_rng;
        if ((st = host_trainer_begin_train(tr, n)) != MTL_OK)
            return st;
        tr->epoch_t0 = now_seconds() - elapsed;
    }
    if ((st = host_ckpt_find(ck, "MODL", &r)) != MTL_OK || (st = load_model(tr, &r)) != MTL_OK)
        return st == MTL_ERR_DATA ? host_reader_status(&r, ck, "MODL") : st;
    if ((st = host_ckpt_find(ck, "MPAR", &r)) != MTL_OK ||
        (st = load_method_params(tr, &r, ck)) != MTL_OK)
        return st;
    if ((st = load_plugin_states(tr, ck)) != MTL_OK || (st = load_counters(tr, ck)) != MTL_OK)
        return st;
    tr->ctx->task->svc.rng = task_now;
    tr->ctx->method->svc.rng = method_now;
    tr->run_batches0 = tr->global_step;
    return host_run_flush(tr->ctx->run);
}
