/* The training loop (see train.h). */
#include "train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "loader.h"
#include "log.h"
#include "progress.h"
#include "sched.h"
#include "text.h"
#include "train_internal.h"

static const char *split_name(mtl_split split)
{
    return split == MTL_SPLIT_TRAIN ? "train" : split == MTL_SPLIT_VAL ? "val" : "test";
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Delta_m and selection -------------------------------------------- */

double host_delta_m(const mtl_task_info *info, const double *values, int only)
{
    double acc = 0;
    int n = 0;

    for (int j = 0; values && j < info->n_metrics; j++) {
        const mtl_metric *m = &info->metrics[j];
        if (m->baseline == 0 || (only >= 0 && m->task != only))
            continue;
        acc += (m->higher_is_better ? -1 : 1) * (values[j] - m->baseline) / m->baseline;
        n++;
    }
    return n ? 100 * acc / n : NAN;
}

/* Lower is better; NaN when the validation split gives nothing to select on. */
static double selection_score(const trainer *tr)
{
    const mtl_method_info *mi = &tr->ctx->method->info;
    double d;

    if (!tr->have_val)
        return NAN;
    if (!mi->single_task)
        return host_delta_m(tr->ti, tr->val, -1);
    d = host_delta_m(tr->ti, tr->val, mi->main_task);
    if (!isnan(d))
        return d;
    for (int j = 0; j < tr->nm; j++)
        if (tr->ti->metrics[j].task == mi->main_task)
            return tr->ti->metrics[j].higher_is_better ? -tr->val[j] : tr->val[j];
    return NAN;
}

/* ---- setup ------------------------------------------------------------ */

static mtl_status read_config(trainer *tr)
{
    const host_config *cfg = tr->ctx->env->cfg;
    mtl_status st;

    if ((st = host_config_int(cfg, -1, "mtlhost", "train.epochs", &tr->epochs)) != MTL_OK ||
        (st = host_config_int(cfg, -1, "mtlhost", "train.max_bad_steps", &tr->max_bad)) != MTL_OK ||
        (st = host_config_int(cfg, -1, "mtlhost", "train.eval_every", &tr->eval_every)) != MTL_OK ||
        (st = host_config_double(cfg, -1, "mtlhost", "train.lr", &tr->lr)) != MTL_OK ||
        (st = host_config_double(cfg, -1, "mtlhost", "train.weight_decay", &tr->weight_decay)) !=
            MTL_OK ||
        (st = host_config_int(cfg, -1, "mtlhost", "output.log_every_steps", &tr->log_every)) !=
            MTL_OK ||
        (st = host_config_bool(cfg, -1, "mtlhost", "output.checkpoint", &tr->checkpoints)) !=
            MTL_OK ||
        (st = host_config_int(cfg, -1, "mtlhost", "output.checkpoint_every", &tr->ckpt_every)) !=
            MTL_OK)
        return st;
    return host_sched_init(&tr->sched, cfg);
}

volatile sig_atomic_t host_train_stop_signal;

/*
 * MTL_TEST_KILL_AFTER_STEPS=N makes the process kill itself with SIGKILL
 * after N training batches of the run: the resume tests interrupt a run at
 * a chosen step with it.  MTL_TEST_KILL_SIGNAL=INT or TERM raises that
 * signal instead, as a user's Ctrl-C or kill would.
 */
static int64_t kill_after_from_env(int *sig)
{
    const char *s = getenv("MTL_TEST_KILL_AFTER_STEPS");
    const char *name = getenv("MTL_TEST_KILL_SIGNAL");

    *sig = !name                       ? SIGKILL
           : strcmp(name, "INT") == 0  ? SIGINT
           : strcmp(name, "TERM") == 0 ? SIGTERM
                                       : SIGKILL;
    return s && *s ? strtoll(s, NULL, 10) : 0;
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/*
 * Ends the run after batch `batch` of the training pass (or, with batch < 0,
 * inside an evaluation pass) for a stop signal: a checkpoint of this point
 * when the task can continue from one, and the line that says how to go on.
 */
static mtl_status stop_for_signal(trainer *tr, int64_t batch, int saved)
{
    host_buf word = {0}; /* the run directory as a shell word, for the command shown */
    const char *dir;
    char where[160], advice[1024];
    mtl_status st;

    host_buf_shell_word(&word, host_run_dir(tr->ctx->run));
    dir = word.failed ? host_run_dir(tr->ctx->run) : host_buf_str(&word);

    if (batch >= 0)
        snprintf(where, sizeof where, "after training step %lld (trial %d, epoch %lld, batch %lld)",
                 (long long)tr->global_step, tr->trial, (long long)tr->epoch, (long long)batch);
    else
        snprintf(where, sizeof where, "during the evaluation of trial %d, epoch %lld", tr->trial,
                 (long long)tr->epoch);
    if (!tr->checkpoints) {
        snprintf(advice, sizeof advice,
                 "checkpoints are off (output.checkpoint = false): mtlhost --resume %s starts "
                 "the run again from its beginning",
                 dir);
    } else if (saved || (batch >= 0 && tr->mid_epoch_ok && batch + 1 < tr->n_batches)) {
        if (!saved && (st = host_trainer_checkpoint(tr, 1, batch + 1)) != MTL_OK) {
            host_buf_free(&word);
            return st;
        }
        snprintf(advice, sizeof advice,
                 "a checkpoint of this step was written: continue with mtlhost --resume %s", dir);
    } else if (!tr->have_ckpt) {
        snprintf(advice, sizeof advice,
                 "no checkpoint was written yet (one is written at the end of each epoch): "
                 "mtlhost --resume %s starts the run again from its beginning",
                 dir);
    } else {
        snprintf(advice, sizeof advice,
                 "continue from the last checkpoint with mtlhost --resume %s", dir);
    }
    host_buf_free(&word);
    return mtl_error_set(MTL_ERR_INTERRUPTED, "train: stopped by %s %s; %s",
                         signal_name(host_train_stop_signal), where, advice);
}

static void check_mid_epoch(trainer *tr)
{
    tr->mid_epoch_ok = host_task_has_state(tr->tp);
    if (tr->checkpoints && tr->ckpt_every > 0 && !tr->mid_epoch_ok)
        host_log(MTL_LOG_WARN, "mtlhost",
                 "checkpoint: %s does not save its own state (no state_save), so checkpoints "
                 "are written at the end of epochs only (output.checkpoint_every = %lld is "
                 "not used)",
                 tr->tp->name, (long long)tr->ckpt_every);
}

static mtl_status trainer_init(trainer *tr, host_train_ctx *ctx)
{
    size_t k, m;

    memset(tr, 0, sizeof *tr);
    tr->ctx = ctx;
    tr->tp = ctx->task->plugin;
    tr->ti = &ctx->task->info;
    tr->k = tr->ti->n_tasks;
    tr->nm = tr->ti->n_metrics;
    tr->n_trials = tr->ti->n_trials > 0 ? tr->ti->n_trials : 1;
    k = (size_t)tr->k;
    m = (size_t)tr->nm;
    tr->losses = calloc(k, sizeof *tr->losses);
    tr->loss_sum = calloc(k, sizeof *tr->loss_sum);
    tr->weight_sum = calloc(k, sizeof *tr->weight_sum);
    tr->means = calloc(2 * k, sizeof *tr->means);
    tr->train = calloc(m + 1, sizeof *tr->train);
    tr->val = calloc(m + 1, sizeof *tr->val);
    tr->test = calloc(m + 1, sizeof *tr->test);
    tr->selected_values = calloc(2 * k + 3 * m, sizeof *tr->selected_values);
    if (!tr->losses || !tr->loss_sum || !tr->weight_sum || !tr->means || !tr->train || !tr->val ||
        !tr->test || !tr->selected_values)
        return mtl_error_set(MTL_ERR_NOMEM, "train: out of memory");
    if (read_config(tr) != MTL_OK)
        return MTL_ERR_CONFIG;
    tr->kill_after = kill_after_from_env(&tr->kill_signal);
    check_mid_epoch(tr);
    return mtl_graph_create(&tr->graph);
}

static void trainer_deinit(trainer *tr)
{
    host_engine_destroy(tr->engine);
    mtl_graph_destroy(tr->graph);
    free(tr->losses);
    free(tr->loss_sum);
    free(tr->weight_sum);
    free(tr->means);
    free(tr->train);
    free(tr->val);
    free(tr->test);
    free(tr->selected_values);
    host_buf_free(&tr->ckpt);
}

/* ---- one training step ------------------------------------------------ */

static mtl_status forward(trainer *tr, mtl_split split, int64_t batch, mtl_task_output *out)
{
    void *self = tr->ctx->task->self;
    mtl_status st;

    memset(tr->losses, 0, (size_t)tr->k * sizeof *tr->losses);
    out->losses = tr->losses;
    out->rep = NULL;
    st = tr->tp->forward(self, split, batch, split == MTL_SPLIT_TRAIN, tr->graph, out);
    if (st == MTL_OK)
        st = mtl_graph_status(tr->graph);
    if (st != MTL_OK)
        return mtl_error_wrap(st, "%s: forward of %s batch %lld (trial %d, epoch %lld)",
                              tr->tp->name, split_name(split), (long long)batch, tr->trial,
                              (long long)tr->epoch);
    return MTL_OK;
}

static mtl_status on_skip(trainer *tr, int64_t batch, const host_step *r)
{
    tr->epoch_skipped++;
    tr->trial_skipped++;
    tr->bad_in_row++;
    if (!tr->logged_skip) {
        host_log(MTL_LOG_WARN, "mtlhost",
                 "train: skipped a step at trial %d, epoch %lld, batch %lld: %s; parameters, "
                 "optimizer and method state are unchanged (reported once; every skip is "
                 "counted in skipped_steps)",
                 tr->trial, (long long)tr->epoch, (long long)batch, r->why);
        tr->logged_skip = 1;
    }
    if (tr->bad_in_row < tr->max_bad)
        return MTL_OK;
    return mtl_error_set(MTL_ERR_NUMERIC,
                         "train: stopped after %lld skipped steps in a row: trial %d, epoch "
                         "%lld, batch %lld: %s (expected finite losses and gradients; "
                         "train.max_bad_steps = %lld)",
                         (long long)tr->bad_in_row, tr->trial, (long long)tr->epoch,
                         (long long)batch, r->why, (long long)tr->max_bad);
}

static void on_solve_failed(trainer *tr, int64_t batch, const host_step *r)
{
    const char *name = tr->ctx->method->plugin->name;

    tr->epoch_failures++;
    tr->trial_failures++;
    if (tr->logged_failure)
        return;
    host_log(MTL_LOG_WARN, name,
             "solver fell back at step %lld (trial %d, epoch %lld, batch %lld): %s (reported "
             "once; every fallback is counted in solver_failures)",
             (long long)tr->step, tr->trial, (long long)tr->epoch, (long long)batch,
             r->warning && *r->warning ? r->warning : "no reason given");
    tr->logged_failure = 1;
}

static void on_applied(trainer *tr, const host_step *r)
{
    for (int i = 0; i < tr->k; i++) {
        tr->loss_sum[i] += r->losses[i];
        tr->weight_sum[i] += r->weights[i];
    }
    tr->method_loss_sum += r->loss;
    tr->epoch_steps++;
    tr->trial_steps++;
    tr->step++;
    tr->bad_in_row = 0;
}

/* The run's batches still to go from here, assuming every epoch has this epoch's count. */
static double batches_left(const trainer *tr, int64_t done)
{
    double n = (double)tr->n_batches;
    double epochs_left = (double)(tr->epochs - tr->epoch - 1);
    double trials_left = (double)(tr->n_trials - tr->trial - 1);

    return n - (double)done + n * epochs_left + n * (double)tr->epochs * trials_left;
}

static void show_progress(trainer *tr, int64_t done)
{
    double elapsed = now_seconds() - tr->run_t0;
    double rate = elapsed > 0 ? (double)(tr->global_step - tr->run_batches0) / elapsed : NAN;
    double steps = (double)tr->epoch_steps;
    host_progress_view v = {tr->trial, tr->n_trials,       tr->epoch, tr->epochs,
                            done,      tr->n_batches,      rate,      NAN,
                            tr->k,     tr->ti->task_names, NULL};

    if (rate > 0)
        v.seconds_left = batches_left(tr, done) / rate;
    if (steps > 0) {
        for (int i = 0; i < tr->k; i++)
            tr->means[i] = tr->loss_sum[i] / steps;
        v.losses = tr->means;
    }
    host_progress_show(&v);
}

static mtl_status log_step(trainer *tr, int64_t batch, const host_step *r)
{
    host_step_record rec = {
        tr->trial, tr->epoch,  batch,   tr->global_step,
        r->losses, r->weights, r->loss, mtl_adam_get_lr(host_engine_adam(tr->engine), 0)};

    return host_run_add_step(tr->ctx->run, &rec);
}

/* After batch `batch` of the pass: progress, step log, checkpoint, test kill. */
static mtl_status after_batch(trainer *tr, int64_t batch, const host_step *r)
{
    mtl_status st;
    int saved = 0;

    tr->global_step++;
    if (host_progress_due())
        show_progress(tr, batch + 1);
    if (tr->log_every > 0 && tr->global_step % tr->log_every == 0 && !r->skipped &&
        (st = log_step(tr, batch, r)) != MTL_OK)
        return st;
    if (tr->checkpoints && tr->mid_epoch_ok && tr->ckpt_every > 0 &&
        tr->global_step % tr->ckpt_every == 0 && batch + 1 < tr->n_batches) {
        if ((st = host_trainer_checkpoint(tr, 1, batch + 1)) != MTL_OK)
            return st;
        saved = 1;
    }
    if (tr->kill_after > 0 && tr->global_step >= tr->kill_after)
        raise(tr->kill_signal);
    if (host_train_stop_signal)
        return stop_for_signal(tr, batch, saved);
    return MTL_OK;
}

static mtl_status train_batch(trainer *tr, int64_t batch)
{
    mtl_task_output out;
    host_step r;
    mtl_status st;

    mtl_graph_reset(tr->graph);
    if ((st = forward(tr, MTL_SPLIT_TRAIN, batch, &out)) != MTL_OK)
        return st;
    if ((st = host_engine_gradients(tr->engine, tr->graph, &out, tr->step, &r)) != MTL_OK)
        return mtl_error_wrap(st, "train: trial %d, epoch %lld, batch %lld", tr->trial,
                              (long long)tr->epoch, (long long)batch);
    if (r.solve_failed)
        on_solve_failed(tr, batch, &r);
    if (r.skipped) {
        if ((st = on_skip(tr, batch, &r)) != MTL_OK)
            return st;
        return after_batch(tr, batch, &r);
    }
    if ((st = host_engine_apply(tr->engine)) != MTL_OK)
        return mtl_error_wrap(st, "train: trial %d, epoch %lld, batch %lld", tr->trial,
                              (long long)tr->epoch, (long long)batch);
    on_applied(tr, &r);
    return after_batch(tr, batch, &r);
}

static mtl_status begin_pass(trainer *tr, mtl_split split, int64_t *n)
{
    mtl_status st = tr->tp->epoch_begin(tr->ctx->task->self, split, tr->epoch, n);

    if (st != MTL_OK)
        return mtl_error_wrap(st, "%s: epoch_begin(%s)", tr->tp->name, split_name(split));
    if (*n < 0)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "%s broke its contract: epoch_begin(%s) batches (expected >= 0, got "
                             "%lld)",
                             tr->tp->name, split_name(split), (long long)*n);
    return MTL_OK;
}

mtl_status host_trainer_begin_train(trainer *tr, int64_t *n)
{
    mtl_status st = begin_pass(tr, MTL_SPLIT_TRAIN, n);

    tr->n_batches = *n;
    return st;
}

/* The metrics the task accumulated over a pass (and resets). */
static mtl_status read_metrics(trainer *tr, mtl_split split, double *values, int *have)
{
    mtl_status st = tr->tp->metrics(tr->ctx->task->self, split, values);

    if (st != MTL_OK)
        return mtl_error_wrap(st, "%s: metrics(%s)", tr->tp->name, split_name(split));
    *have = 1;
    return MTL_OK;
}

/*
 * The training pass of the current epoch, from batch `first` of `n`; n < 0
 * starts the pass (a resumed epoch has begun it already).
 */
static mtl_status train_epoch(trainer *tr, int64_t first, int64_t n)
{
    mtl_status st;

    if (n < 0) {
        tr->epoch_steps = tr->epoch_skipped = tr->epoch_failures = 0;
        tr->method_loss_sum = 0;
        memset(tr->loss_sum, 0, (size_t)tr->k * sizeof *tr->loss_sum);
        memset(tr->weight_sum, 0, (size_t)tr->k * sizeof *tr->weight_sum);
        tr->epoch_rng = tr->ctx->task->svc.rng;
        if ((st = host_trainer_begin_train(tr, &n)) != MTL_OK)
            return st;
    }
    for (int64_t b = first; b < n; b++)
        if ((st = train_batch(tr, b)) != MTL_OK)
            return st;
    return read_metrics(tr, MTL_SPLIT_TRAIN, tr->train, &tr->have_train);
}

/* ---- evaluation ------------------------------------------------------- */

static mtl_status eval_split(trainer *tr, mtl_split split, double *values, int *have)
{
    mtl_task_output out;
    int64_t n;
    mtl_status st;

    *have = 0;
    if ((st = begin_pass(tr, split, &n)) != MTL_OK || n == 0)
        return st;
    for (int64_t b = 0; b < n; b++) {
        if (host_train_stop_signal)
            return stop_for_signal(tr, -1, 0);
        mtl_graph_reset(tr->graph);
        mtl_graph_set_recording(tr->graph, 0);
        if ((st = forward(tr, split, b, &out)) != MTL_OK)
            return st;
    }
    mtl_graph_reset(tr->graph);
    return read_metrics(tr, split, values, have);
}

static int eval_due(const trainer *tr)
{
    return (tr->epoch + 1) % tr->eval_every == 0 || tr->epoch + 1 == tr->epochs;
}

/* ---- after an epoch --------------------------------------------------- */

static void epoch_record(trainer *tr, double seconds, host_epoch_record *rec)
{
    double steps = (double)tr->epoch_steps;

    for (int i = 0; i < tr->k; i++) {
        tr->means[i] = steps > 0 ? tr->loss_sum[i] / steps : NAN;
        tr->means[tr->k + i] = steps > 0 ? tr->weight_sum[i] / steps : NAN;
    }
    memset(rec, 0, sizeof *rec);
    rec->trial = tr->trial;
    rec->epoch = tr->epoch;
    rec->steps = tr->epoch_steps;
    rec->train_loss = tr->means;
    rec->weights = tr->means + tr->k;
    rec->method_loss = steps > 0 ? tr->method_loss_sum / steps : NAN;
    rec->train = tr->have_train ? tr->train : NULL;
    rec->val = tr->have_val ? tr->val : NULL;
    rec->test = tr->have_test ? tr->test : NULL;
    rec->val_delta_m = tr->have_val ? host_delta_m(tr->ti, tr->val, -1) : NAN;
    rec->test_delta_m = tr->have_test ? host_delta_m(tr->ti, tr->test, -1) : NAN;
    rec->lr = mtl_adam_get_lr(host_engine_adam(tr->engine), 0);
    rec->seconds = seconds;
    rec->skipped = tr->epoch_skipped;
    rec->solver_failures = tr->epoch_failures;
    rec->global_step = tr->global_step;
}

static void copy_or_nan(double *dst, const double *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src ? src[i] : NAN;
}

/* Keeps the epoch when its score is the best so far, or when none has a score. */
static void select_epoch(trainer *tr, const host_epoch_record *rec)
{
    double score = selection_score(tr);
    int k = tr->k, m = tr->nm;
    double *v = tr->selected_values;

    if (tr->have_best && !(score < tr->best_score))
        return;
    tr->has_selected = 1;
    if (!isnan(score)) {
        tr->have_best = 1;
        tr->best_score = score;
    }
    tr->selected = *rec;
    copy_or_nan(v, rec->train_loss, k);
    copy_or_nan(v + k, rec->weights, k);
    copy_or_nan(v + 2 * k, rec->train, m);
    copy_or_nan(v + 2 * k + m, rec->val, m);
    copy_or_nan(v + 2 * k + 2 * m, rec->test, m);
    tr->selected.train_loss = v;
    tr->selected.weights = v + k;
    tr->selected.train = rec->train ? v + 2 * k : NULL;
    tr->selected.val = rec->val ? v + 2 * k + m : NULL;
    tr->selected.test = rec->test ? v + 2 * k + 2 * m : NULL;
}

static void log_numbers(host_buf *b, const char *label, const double *x, int n,
                        const char *const *names)
{
    host_buf_printf(b, " | %s", label);
    for (int i = 0; i < n; i++) {
        if (names)
            host_buf_printf(b, " %s=%.4g", names[i], x[i]);
        else
            host_buf_printf(b, " %.4g", x[i]);
    }
}

static void log_epoch(const trainer *tr, const host_epoch_record *rec)
{
    host_buf b = {0};

    host_buf_printf(&b, "trial %d/%d epoch %lld/%lld", tr->trial + 1, tr->n_trials,
                    (long long)rec->epoch + 1, (long long)tr->epochs);
    log_numbers(&b, "loss", rec->train_loss, tr->k, tr->ti->task_names);
    log_numbers(&b, "weights", rec->weights, tr->k, NULL);
    if (!isnan(rec->val_delta_m))
        host_buf_printf(&b, " | val delta_m %.4g", rec->val_delta_m);
    if (!isnan(rec->test_delta_m))
        host_buf_printf(&b, " | test delta_m %.4g", rec->test_delta_m);
    host_buf_printf(&b, " | lr %.4g | %.2f s", rec->lr, rec->seconds);
    if (rec->skipped)
        host_buf_printf(&b, " | skipped %lld", (long long)rec->skipped);
    if (rec->solver_failures)
        host_buf_printf(&b, " | solver fell back %lld", (long long)rec->solver_failures);
    host_say("%s", host_buf_str(&b));
    host_buf_free(&b);
}

/* What plateau watches: the selection score, or without one the training loss. */
static double plateau_metric(const trainer *tr, const host_epoch_record *rec, int evaluated)
{
    double score = selection_score(tr);

    if (!isnan(score))
        return score;
    return evaluated ? rec->method_loss : NAN;
}

static mtl_status run_epoch(trainer *tr, int64_t first, int64_t n)
{
    host_epoch_record rec;
    int evaluated = eval_due(tr);
    mtl_status st;

    if (n < 0)
        tr->epoch_t0 = now_seconds();
    tr->have_train = tr->have_val = tr->have_test = 0;
    if ((st = train_epoch(tr, first, n)) != MTL_OK)
        return st;
    if (evaluated && ((st = eval_split(tr, MTL_SPLIT_VAL, tr->val, &tr->have_val)) != MTL_OK ||
                      (st = eval_split(tr, MTL_SPLIT_TEST, tr->test, &tr->have_test)) != MTL_OK))
        return st;
    epoch_record(tr, now_seconds() - tr->epoch_t0, &rec);
    select_epoch(tr, &rec);
    host_sched_epoch_end(&tr->sched, host_engine_adam(tr->engine), host_engine_n_groups(tr->engine),
                         plateau_metric(tr, &rec, evaluated));
    log_epoch(tr, &rec);
    if ((st = host_run_add_epoch(tr->ctx->run, &rec)) != MTL_OK)
        return st;
    if (tr->checkpoints)
        return host_trainer_checkpoint(tr, 0, 0);
    return MTL_OK;
}

/* ---- trials ----------------------------------------------------------- */

static mtl_status start_trial(trainer *tr, int trial)
{
    host_method_slot *m = tr->ctx->method;
    host_engine_config ec;
    mtl_status st;

    tr->trial = trial;
    tr->step = tr->bad_in_row = tr->trial_steps = tr->trial_skipped = tr->trial_failures = 0;
    tr->have_best = tr->has_selected = 0;
    if (trial > 0) {
        host_method_close(m);
        if ((st = host_method_open(m, m->plugin, tr->ctx->env, trial, tr->k)) != MTL_OK)
            return st;
    }
    if (tr->tp->trial_begin && (st = tr->tp->trial_begin(tr->ctx->task->self, trial)) != MTL_OK)
        return mtl_error_wrap(st, "%s: trial_begin(%d)", tr->tp->name, trial);
    ec = (host_engine_config){tr->ti->model, tr->k,  tr->ti->task_names, m->plugin, m->self,
                              &m->info,      tr->lr, tr->weight_decay};
    host_sched_reset(&tr->sched);
    return host_engine_create(&tr->engine, &ec);
}

static mtl_status end_trial(trainer *tr)
{
    mtl_status st;

    if (tr->trial_failures)
        host_log(MTL_LOG_WARN, tr->ctx->method->plugin->name,
                 "solver fell back on %lld of %lld steps (trial %d)", (long long)tr->trial_failures,
                 (long long)tr->trial_steps, tr->trial);
    tr->selected.skipped = tr->trial_skipped;
    tr->selected.solver_failures = tr->trial_failures;
    if ((st = host_run_add_result(tr->ctx->run, &tr->selected)) != MTL_OK)
        return st;
    if ((st = host_run_flush(tr->ctx->run)) != MTL_OK)
        return st;
    host_engine_destroy(tr->engine);
    tr->engine = NULL;
    if (tr->tp->trial_end && (st = tr->tp->trial_end(tr->ctx->task->self, tr->trial)) != MTL_OK)
        return mtl_error_wrap(st, "%s: trial_end(%d)", tr->tp->name, tr->trial);
    return MTL_OK;
}

static mtl_status run_trial(trainer *tr, int trial)
{
    int64_t first = 0, n = -1;
    mtl_status st = start_trial(tr, trial);

    tr->epoch = 0;
    if (st == MTL_OK && tr->ctx->resume) {
        st = host_trainer_restore(tr, &first, &n);
        tr->ctx->resume = NULL;
    }
    for (; st == MTL_OK && tr->epoch < tr->epochs; tr->epoch++) {
        st = run_epoch(tr, first, n);
        first = 0;
        n = -1;
    }
    if (st == MTL_OK)
        st = end_trial(tr);
    return st;
}

/* The trial a checkpoint continues, or 0. */
static int first_trial(const host_train_ctx *ctx)
{
    host_reader r;

    if (!ctx->resume || host_ckpt_find(ctx->resume, "POS ", &r) != MTL_OK)
        return 0;
    return (int)host_get_u32(&r);
}

mtl_status host_train(host_train_ctx *ctx)
{
    trainer tr;
    mtl_status st = trainer_init(&tr, ctx);

    tr.have_ckpt = ctx->resume != NULL;
    tr.run_t0 = now_seconds();
    for (int t = first_trial(ctx); st == MTL_OK && t < tr.n_trials; t++)
        st = run_trial(&tr, t);
    host_progress_clear();
    trainer_deinit(&tr);
    return st;
}
