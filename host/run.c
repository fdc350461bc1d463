/* The run directory and its files (see run.h). */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tboard.h"
#include "mtl/version.h"
#include "text.h"
#include "wandb.h"

/* A trial's selected epoch, with copies of its arrays. */
typedef struct kept_result {
    host_epoch_record rec;
    double *values; /* train_loss, weights, train, val, test */
} kept_result;

struct host_run {
    char *dir;
    host_run_layout layout;
    char **metric_labels; /* unique column names of the metrics */
    host_buf csv, jsonl;
    double last_flush; /* seconds, monotonic */
    int dirty;
    kept_result *results;
    size_t n_results;
    host_buf steps;      /* steps.csv, once a step is logged */
    host_tboard *tb;     /* NULL without output.tensorboard */
    host_wandb *wandb;   /* NULL when not tracked */
    host_buf tags;       /* scratch: NUL-separated scalar names */
    const char **tag_at; /* scratch: pointers into tags */
    double *scalars;     /* scratch: their values */
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- files ------------------------------------------------------------ */

static mtl_status io_error(const char *what, const char *path)
{
    char why[128];

    return mtl_error_set(MTL_ERR_IO, "run: cannot %s: %s: %s", what, path,
                         host_strerror(errno, why, sizeof why));
}

static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        text += n;
        len -= (size_t)n;
    }
    return 1;
}

mtl_status host_write_atomic(const char *path, const char *text, size_t len)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    mtl_status st = MTL_OK;
    int fd;

    if (!tmp)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory: writing %s", path);
    snprintf(tmp, n, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = io_error("create file", tmp);
    } else {
        if (!write_all(fd, text, len) || fsync(fd) != 0)
            st = io_error("write file", tmp);
        if (close(fd) != 0 && st == MTL_OK)
            st = io_error("write file", tmp);
        if (st == MTL_OK && rename(tmp, path) != 0)
            st = io_error("rename file into place", path);
        if (st != MTL_OK)
            unlink(tmp);
    }
    free(tmp);
    return st;
}

mtl_status host_run_write(const host_run *run, const char *name, const char *text, size_t len)
{
    size_t n = strlen(run->dir) + strlen(name) + 2;
    char *path = malloc(n);
    mtl_status st;

    if (!path)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory: writing %s", name);
    snprintf(path, n, "%s/%s", run->dir, name);
    st = host_write_atomic(path, text, len);
    free(path);
    return st;
}

/* mkdir -p */
static mtl_status make_dirs(const char *dir)
{
    char *path = host_strdup(dir);
    mtl_status st = MTL_OK;

    if (!path)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
    for (char *p = path + 1; st == MTL_OK; p++) {
        int end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            st = io_error("create folder", path);
        if (end)
            break;
        *p = '/';
    }
    free(path);
    return st;
}

void host_run_default_dir(const char *task, const char *method, char *buf, size_t cap)
{
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, cap, "runs/%s-%s-%s", task, method, stamp);
}

mtl_status host_run_claim_dir(char *buf, size_t cap)
{
    char base[4096], *slash;
    mtl_status st;

    snprintf(base, sizeof base, "%s", buf);
    if ((slash = strrchr(base, '/')) != NULL) {
        *slash = '\0';
        st = make_dirs(base);
        *slash = '/';
        if (st != MTL_OK)
            return st;
    }
    /* mkdir decides: two runs started in the same second never get one name */
    for (int i = 2; mkdir(buf, 0755) != 0; i++) {
        if (errno != EEXIST || i == 1000)
            return io_error("create folder", buf);
        snprintf(buf, cap, "%s-%d", base, i);
    }
    return MTL_OK;
}

/* ---- columns ---------------------------------------------------------- */

static int name_unique(const host_run_layout *l, int m)
{
    for (int j = 0; j < l->n_metrics; j++)
        if (j != m && strcmp(l->metrics[j].name, l->metrics[m].name) == 0)
            return 0;
    return 1;
}

/* A metric's column name: its name, or "<task>/<name>" when two share a name. */
static char *metric_label(const host_run_layout *l, int m)
{
    const mtl_metric *mt = &l->metrics[m];
    host_buf b = {0};

    if (!name_unique(l, m) && mt->task >= 0 && mt->task < l->n_tasks)
        host_buf_printf(&b, "%s/%s", l->task_names[mt->task], mt->name);
    else if (!name_unique(l, m))
        host_buf_printf(&b, "%s#%d", mt->name, m);
    else
        host_buf_printf(&b, "%s", mt->name);
    if (b.failed)
        host_buf_free(&b);
    return b.data;
}

static void csv_field(host_buf *b, const char *prefix, const char *name)
{
    if (!strpbrk(name, ",\"\n")) {
        host_buf_printf(b, ",%s%s", prefix, name);
        return;
    }
    host_buf_printf(b, ",\"%s", prefix);
    for (const char *p = name; *p; p++)
        host_buf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    host_buf_printf(b, "\"");
}

static void csv_header(host_run *r)
{
    const host_run_layout *l = &r->layout;
    host_buf *b = &r->csv;

    host_buf_printf(b, "trial,epoch,steps");
    for (int i = 0; i < l->n_tasks; i++)
        csv_field(b, "loss_", l->task_names[i]);
    for (int i = 0; i < l->n_tasks; i++)
        csv_field(b, "weight_", l->task_names[i]);
    host_buf_printf(b, ",method_loss");
    for (int m = 0; m < l->n_metrics; m++)
        csv_field(b, "train_", r->metric_labels[m]);
    for (int m = 0; m < l->n_metrics; m++)
        csv_field(b, "val_", r->metric_labels[m]);
    host_buf_printf(b, ",val_delta_m");
    for (int m = 0; m < l->n_metrics; m++)
        csv_field(b, "test_", r->metric_labels[m]);
    host_buf_printf(b, ",test_delta_m,lr,seconds,skipped_steps,solver_failures\n");
}

mtl_status host_run_lock(const char *dir, int *fd)
{
    int err;

    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return mtl_error_set(MTL_ERR_IO, "run: cannot open '%s': %s", dir, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
        return MTL_OK;
    err = errno;
    close(*fd);
    *fd = -1;
    if (err == EWOULDBLOCK)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "run: '%s' is in use by another mtlhost process (expected a run "
                             "directory no other run is writing; wait for that run to end)",
                             dir);
    return mtl_error_set(MTL_ERR_IO, "run: cannot lock '%s': %s", dir, strerror(err));
}

mtl_status host_run_create(host_run **run, const char *dir, const host_run_layout *layout)
{
    host_run *r = calloc(1, sizeof *r);
    mtl_status st;

    *run = NULL;
    if (!r)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
    r->layout = *layout;
    r->dir = host_strdup(dir);
    r->metric_labels = calloc((size_t)layout->n_metrics + 1, sizeof *r->metric_labels);
    st = r->dir && r->metric_labels ? MTL_OK : mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
    for (int m = 0; st == MTL_OK && m < layout->n_metrics; m++)
        if (!(r->metric_labels[m] = metric_label(layout, m)))
            st = mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
    if (st == MTL_OK)
        st = make_dirs(dir);
    if (st != MTL_OK) {
        host_run_destroy(r);
        return st;
    }
    csv_header(r);
    r->dirty = 1; /* the header alone is written at the first flush */
    r->last_flush = now_seconds();
    *run = r;
    return MTL_OK;
}

void host_run_destroy(host_run *r)
{
    if (!r)
        return;
    for (int m = 0; r->metric_labels && m < r->layout.n_metrics; m++)
        free(r->metric_labels[m]);
    free(r->metric_labels);
    for (size_t i = 0; i < r->n_results; i++)
        free(r->results[i].values);
    free(r->results);
    host_buf_free(&r->csv);
    host_buf_free(&r->jsonl);
    host_buf_free(&r->steps);
    host_buf_free(&r->tags);
    free(r->tag_at);
    free(r->scalars);
    host_tboard_destroy(r->tb);
    free(r->dir);
    free(r);
}

const char *host_run_dir(const host_run *r)
{
    return r->dir;
}

/* ---- rows ------------------------------------------------------------- */

static void csv_number(host_buf *b, double x)
{
    if (isfinite(x))
        host_buf_printf(b, ",%.9g", x);
    else
        host_buf_printf(b, ",");
}

static void csv_numbers(host_buf *b, const double *x, int n)
{
    for (int i = 0; i < n; i++)
        csv_number(b, x ? x[i] : NAN);
}

static void csv_row(host_run *r, const host_epoch_record *e)
{
    const host_run_layout *l = &r->layout;
    host_buf *b = &r->csv;

    host_buf_printf(b, "%d,%lld,%lld", e->trial, (long long)e->epoch, (long long)e->steps);
    csv_numbers(b, e->train_loss, l->n_tasks);
    csv_numbers(b, e->weights, l->n_tasks);
    csv_number(b, e->method_loss);
    csv_numbers(b, e->train, l->n_metrics);
    csv_numbers(b, e->val, l->n_metrics);
    csv_number(b, e->val_delta_m);
    csv_numbers(b, e->test, l->n_metrics);
    csv_number(b, e->test_delta_m);
    csv_number(b, e->lr);
    host_buf_printf(b, ",%.3f,%lld,%lld\n", e->seconds, (long long)e->skipped,
                    (long long)e->solver_failures);
}

static void json_number(host_buf *b, double x)
{
    if (isfinite(x))
        host_buf_printf(b, "%.17g", x);
    else
        host_buf_printf(b, "null");
}

/* "key":{"name":value,...} (null for a missing array) */
static void json_object(host_buf *b, const char *key, const char *const *names, const double *x,
                        int n)
{
    host_buf_printf(b, ",\"%s\":", key);
    if (!x) {
        host_buf_printf(b, "null");
        return;
    }
    host_buf_printf(b, "{");
    for (int i = 0; i < n; i++) {
        if (i)
            host_buf_printf(b, ",");
        host_buf_json_string(b, names[i]);
        host_buf_printf(b, ":");
        json_number(b, x[i]);
    }
    host_buf_printf(b, "}");
}

static void json_field(host_buf *b, const char *key, double x)
{
    host_buf_printf(b, ",\"%s\":", key);
    json_number(b, x);
}

static void json_row(host_run *r, const host_epoch_record *e)
{
    const host_run_layout *l = &r->layout;
    const char *const *metrics = (const char *const *)r->metric_labels;
    host_buf *b = &r->jsonl;

    host_buf_printf(b, "{\"trial\":%d,\"epoch\":%lld,\"steps\":%lld", e->trial, (long long)e->epoch,
                    (long long)e->steps);
    json_object(b, "train_loss", l->task_names, e->train_loss, l->n_tasks);
    json_object(b, "weights", l->task_names, e->weights, l->n_tasks);
    json_field(b, "method_loss", e->method_loss);
    json_object(b, "train", metrics, e->train, l->n_metrics);
    json_object(b, "val", metrics, e->val, l->n_metrics);
    json_field(b, "val_delta_m", e->val_delta_m);
    json_object(b, "test", metrics, e->test, l->n_metrics);
    json_field(b, "test_delta_m", e->test_delta_m);
    json_field(b, "lr", e->lr);
    host_buf_printf(b, ",\"seconds\":%.3f,\"skipped_steps\":%lld,\"solver_failures\":%lld}\n",
                    e->seconds, (long long)e->skipped, (long long)e->solver_failures);
}

/* ---- tracking: TensorBoard and wandb ----------------------------------- */

/* Prepares room for the scalars of an epoch: every column at most. */
static mtl_status scalars_reserve(host_run *r)
{
    size_t n = (size_t)(2 * r->layout.n_tasks + 3 * r->layout.n_metrics) + 16;

    if (r->tag_at)
        return MTL_OK;
    r->tag_at = calloc(n, sizeof *r->tag_at);
    r->scalars = calloc(n, sizeof *r->scalars);
    if (!r->tag_at || !r->scalars)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory: tracked scalars");
    return MTL_OK;
}

typedef struct scalar_list {
    host_run *r;
    size_t *offsets; /* into r->tags, resolved into r->tag_at at the end */
    int n;
} scalar_list;

static void scalar_add(scalar_list *l, const char *prefix, const char *name, double value)
{
    l->offsets[l->n] = l->r->tags.len;
    host_buf_printf(&l->r->tags, "%s%s", prefix, name);
    host_buf_append(&l->r->tags, "", 1);
    l->r->scalars[l->n++] = value;
}

static void scalar_adds(scalar_list *l, const char *prefix, const char *const *names,
                        const double *x, int n)
{
    for (int i = 0; x && i < n; i++)
        scalar_add(l, prefix, names[i], x[i]);
}

static int scalars_finish(scalar_list *l)
{
    for (int i = 0; i < l->n; i++)
        l->r->tag_at[i] = l->r->tags.data + l->offsets[i];
    return l->r->tags.failed ? -1 : l->n;
}

/* The epoch's scalars into r->tag_at / r->scalars; their number, or -1. */
static int epoch_scalars(host_run *r, const host_epoch_record *e)
{
    const host_run_layout *L = &r->layout;
    const char *const *labels = (const char *const *)r->metric_labels;
    size_t offsets[2 * 64 + 3 * 256 + 16];
    scalar_list l = {r, offsets, 0};

    if ((size_t)(2 * L->n_tasks + 3 * L->n_metrics) + 16 > sizeof offsets / sizeof offsets[0])
        return 0; /* more columns than tracking keeps: the files still have them all */
    host_buf_clear(&r->tags);
    scalar_adds(&l, "loss/", L->task_names, e->train_loss, L->n_tasks);
    scalar_adds(&l, "weight/", L->task_names, e->weights, L->n_tasks);
    scalar_add(&l, "", "method_loss", e->method_loss);
    scalar_adds(&l, "train/", labels, e->train, L->n_metrics);
    scalar_adds(&l, "val/", labels, e->val, L->n_metrics);
    if (e->val)
        scalar_add(&l, "val/", "delta_m", e->val_delta_m);
    scalar_adds(&l, "test/", labels, e->test, L->n_metrics);
    if (e->test)
        scalar_add(&l, "test/", "delta_m", e->test_delta_m);
    scalar_add(&l, "", "lr", e->lr);
    scalar_add(&l, "", "seconds", e->seconds);
    scalar_add(&l, "", "skipped_steps", (double)e->skipped);
    scalar_add(&l, "", "solver_failures", (double)e->solver_failures);
    scalar_add(&l, "", "trial", (double)e->trial);
    scalar_add(&l, "", "epoch", (double)e->epoch);
    return scalars_finish(&l);
}

static int step_scalars(host_run *r, const host_step_record *e)
{
    const host_run_layout *L = &r->layout;
    size_t offsets[2 * 64 + 8];
    scalar_list l = {r, offsets, 0};

    if ((size_t)(2 * L->n_tasks) + 8 > sizeof offsets / sizeof offsets[0])
        return 0;
    host_buf_clear(&r->tags);
    scalar_adds(&l, "step/loss/", L->task_names, e->losses, L->n_tasks);
    scalar_adds(&l, "step/weight/", L->task_names, e->weights, L->n_tasks);
    scalar_add(&l, "step/", "method_loss", e->method_loss);
    scalar_add(&l, "step/", "lr", e->lr);
    return scalars_finish(&l);
}

/* {"event":"log","step":N,"data":{...}} of the finite scalars. */
static void wandb_log(host_run *r, int64_t step, int n)
{
    host_buf line = {0};
    int first = 1;

    host_buf_printf(&line, "{\"event\":\"log\",\"step\":%lld,\"data\":{", (long long)step);
    for (int i = 0; i < n; i++) {
        if (!isfinite(r->scalars[i]))
            continue;
        host_buf_printf(&line, "%s", first ? "" : ",");
        host_buf_json_string(&line, r->tag_at[i]);
        host_buf_printf(&line, ":%.17g", r->scalars[i]);
        first = 0;
    }
    host_buf_printf(&line, "}}");
    if (!line.failed)
        host_wandb_send(r->wandb, host_buf_str(&line));
    host_buf_free(&line);
}

static mtl_status track(host_run *r, int64_t step, int n)
{
    if (n < 0)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory: tracked scalars");
    if (r->tb)
        host_tboard_scalars(r->tb, step, n, r->tag_at, r->scalars);
    if (r->wandb)
        wandb_log(r, step, n);
    return MTL_OK;
}

static mtl_status track_epoch(host_run *r, const host_epoch_record *e)
{
    mtl_status st;

    if (!r->tb && !r->wandb)
        return MTL_OK;
    if ((st = scalars_reserve(r)) != MTL_OK)
        return st;
    return track(r, e->global_step, epoch_scalars(r, e));
}

mtl_status host_run_enable_tensorboard(host_run *r)
{
    return host_tboard_create(&r->tb, r->dir);
}

void host_run_set_wandb(host_run *r, host_wandb *w)
{
    r->wandb = w;
}

host_wandb *host_run_wandb(host_run *r)
{
    return r->wandb;
}

/* ---- steps.csv -------------------------------------------------------- */

static void steps_header(host_run *r)
{
    const host_run_layout *l = &r->layout;
    host_buf *b = &r->steps;

    host_buf_printf(b, "trial,epoch,batch,step");
    for (int i = 0; i < l->n_tasks; i++)
        csv_field(b, "loss_", l->task_names[i]);
    for (int i = 0; i < l->n_tasks; i++)
        csv_field(b, "weight_", l->task_names[i]);
    host_buf_printf(b, ",method_loss,lr\n");
}

mtl_status host_run_add_step(host_run *r, const host_step_record *e)
{
    mtl_status st;

    if (r->steps.len == 0)
        steps_header(r);
    host_buf_printf(&r->steps, "%d,%lld,%lld,%lld", e->trial, (long long)e->epoch,
                    (long long)e->batch, (long long)e->global_step);
    csv_numbers(&r->steps, e->losses, r->layout.n_tasks);
    csv_numbers(&r->steps, e->weights, r->layout.n_tasks);
    csv_number(&r->steps, e->method_loss);
    csv_number(&r->steps, e->lr);
    host_buf_printf(&r->steps, "\n");
    r->dirty = 1;
    if ((st = host_buf_status(&r->steps, "steps")) != MTL_OK)
        return st;
    if (r->tb || r->wandb) {
        if ((st = scalars_reserve(r)) != MTL_OK ||
            (st = track(r, e->global_step, step_scalars(r, e))) != MTL_OK)
            return st;
    }
    if (now_seconds() - r->last_flush >= 1.0)
        return host_run_flush(r);
    return MTL_OK;
}

mtl_status host_run_add_epoch(host_run *r, const host_epoch_record *e)
{
    mtl_status st;

    csv_row(r, e);
    json_row(r, e);
    if ((st = track_epoch(r, e)) != MTL_OK)
        return st;
    r->dirty = 1;
    if ((st = host_buf_status(&r->csv, "metrics")) != MTL_OK ||
        (st = host_buf_status(&r->jsonl, "metrics")) != MTL_OK)
        return st;
    /* Rewriting whole files costs O(rows): at most once a second keeps it linear in time. */
    if (now_seconds() - r->last_flush >= 1.0)
        return host_run_flush(r);
    return MTL_OK;
}

mtl_status host_run_flush(host_run *r)
{
    mtl_status st;

    if (!r->dirty)
        return MTL_OK;
    st = host_run_write(r, "metrics.csv", host_buf_str(&r->csv), r->csv.len);
    if (st == MTL_OK)
        st = host_run_write(r, "metrics.jsonl", host_buf_str(&r->jsonl), r->jsonl.len);
    if (st == MTL_OK && r->steps.len)
        st = host_run_write(r, "steps.csv", host_buf_str(&r->steps), r->steps.len);
    if (st == MTL_OK && r->tb)
        st = host_tboard_flush(r->tb);
    r->last_flush = now_seconds();
    r->dirty = st != MTL_OK;
    return st;
}

/* ---- results ---------------------------------------------------------- */

static const double *keep(double *dst, const double *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src ? src[i] : NAN;
    return dst;
}

mtl_status host_run_add_result(host_run *r, const host_epoch_record *sel)
{
    int k = r->layout.n_tasks, m = r->layout.n_metrics;
    kept_result *grown = realloc(r->results, (r->n_results + 1) * sizeof *grown);
    kept_result *kr;
    double *v;

    if (!grown)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
    r->results = grown;
    v = malloc((size_t)(2 * k + 3 * m + 1) * sizeof *v);
    if (!v)
        return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
    kr = &r->results[r->n_results++];
    kr->rec = *sel;
    kr->values = v;
    kr->rec.train_loss = keep(v, sel->train_loss, k);
    kr->rec.weights = keep(v + k, sel->weights, k);
    kr->rec.train = sel->train ? keep(v + 2 * k, sel->train, m) : NULL;
    kr->rec.val = sel->val ? keep(v + 2 * k + m, sel->val, m) : NULL;
    kr->rec.test = sel->test ? keep(v + 2 * k + 2 * m, sel->test, m) : NULL;
    return MTL_OK;
}

static void md_number(host_buf *b, double x)
{
    if (isfinite(x))
        host_buf_printf(b, " %.6g |", x);
    else
        host_buf_printf(b, " - |");
}

static void md_header(const host_run *r, host_buf *b)
{
    const host_run_layout *l = &r->layout;
    int cols = 5 + l->n_tasks + l->n_metrics + 2;

    host_buf_printf(b, "| trial | selected epoch | val Delta_m | test Delta_m |");
    for (int i = 0; i < l->n_tasks; i++)
        host_buf_printf(b, " loss %s |", l->task_names[i]);
    host_buf_printf(b, " metrics of |");
    for (int m = 0; m < l->n_metrics; m++)
        host_buf_printf(b, " %s%s%s |", r->metric_labels[m], l->metrics[m].unit[0] ? " " : "",
                        l->metrics[m].unit);
    host_buf_printf(b, " skipped steps | solver failures |\n|");
    for (int c = 0; c < cols; c++)
        host_buf_printf(b, " ---: |");
    host_buf_printf(b, "\n");
}

/* Test metrics, or the training ones for a task without a test split. */
static const double *shown_metrics(const host_epoch_record *e, const char **from)
{
    *from = e->test ? "test" : e->train ? "train" : "-";
    return e->test ? e->test : e->train;
}

static void md_row(const host_run *r, const host_epoch_record *e, const char *label, host_buf *b)
{
    const host_run_layout *l = &r->layout;
    const char *from;
    const double *metrics = shown_metrics(e, &from);

    host_buf_printf(b, "| %s |", label);
    if (e->epoch >= 0)
        host_buf_printf(b, " %lld |", (long long)e->epoch);
    else
        host_buf_printf(b, " |");
    md_number(b, e->val_delta_m);
    md_number(b, e->test_delta_m);
    for (int i = 0; i < l->n_tasks; i++)
        md_number(b, e->train_loss[i]);
    host_buf_printf(b, " %s |", from);
    for (int m = 0; m < l->n_metrics; m++)
        md_number(b, metrics ? metrics[m] : NAN);
    host_buf_printf(b, " %lld | %lld |\n", (long long)e->skipped, (long long)e->solver_failures);
}

/*
 * The mean over trials of what each row shows (sums for the counts) into
 * *mean, whose arrays point into v (k + m values); 0 when out of memory.
 */
static int mean_record(const host_run *r, host_epoch_record *mean, double *v)
{
    int k = r->layout.n_tasks, m = r->layout.n_metrics;
    double n = (double)r->n_results;
    const char *from = "-";

    memset(mean, 0, sizeof *mean);
    for (size_t t = 0; t < r->n_results; t++) {
        const host_epoch_record *e = &r->results[t].rec;
        const double *metrics = shown_metrics(e, &from);
        for (int i = 0; i < k; i++)
            v[i] += e->train_loss[i] / n;
        for (int j = 0; j < m; j++)
            v[k + j] += (metrics ? metrics[j] : NAN) / n;
        mean->val_delta_m += e->val_delta_m / n;
        mean->test_delta_m += e->test_delta_m / n;
        mean->skipped += e->skipped;
        mean->solver_failures += e->solver_failures;
    }
    mean->epoch = -1;
    mean->train_loss = v;
    if (strcmp(from, "test") == 0)
        mean->test = v + k;
    else
        mean->train = v + k;
    return 1;
}

static void md_mean(const host_run *r, host_buf *b)
{
    double *v = calloc((size_t)(r->layout.n_tasks + r->layout.n_metrics + 1), sizeof *v);
    host_epoch_record mean;

    if (!v) {
        b->failed = 1;
        return;
    }
    mean_record(r, &mean, v);
    md_row(r, &mean, "mean", b);
    free(v);
}

/* ---- results.csv ------------------------------------------------------ */

static void results_csv_header(const host_run *r, host_buf *b)
{
    const host_run_layout *l = &r->layout;

    host_buf_printf(b, "trial,selected_epoch,val_delta_m,test_delta_m");
    for (int i = 0; i < l->n_tasks; i++)
        csv_field(b, "loss_", l->task_names[i]);
    host_buf_printf(b, ",metrics_from");
    for (int m = 0; m < l->n_metrics; m++)
        csv_field(b, "", r->metric_labels[m]);
    host_buf_printf(b, ",skipped_steps,solver_failures\n");
}

static void results_csv_row(const host_run *r, const host_epoch_record *e, const char *label,
                            host_buf *b)
{
    const char *from;
    const double *metrics = shown_metrics(e, &from);

    host_buf_printf(b, "%s,", label);
    if (e->epoch >= 0)
        host_buf_printf(b, "%lld", (long long)e->epoch);
    csv_number(b, e->val_delta_m);
    csv_number(b, e->test_delta_m);
    csv_numbers(b, e->train_loss, r->layout.n_tasks);
    host_buf_printf(b, ",%s", from);
    for (int m = 0; m < r->layout.n_metrics; m++)
        csv_number(b, metrics ? metrics[m] : NAN);
    host_buf_printf(b, ",%lld,%lld\n", (long long)e->skipped, (long long)e->solver_failures);
}

static mtl_status write_results_csv(const host_run *r)
{
    host_buf b = {0};
    char label[32];
    mtl_status st;

    results_csv_header(r, &b);
    for (size_t i = 0; i < r->n_results; i++) {
        snprintf(label, sizeof label, "%d", r->results[i].rec.trial);
        results_csv_row(r, &r->results[i].rec, label, &b);
    }
    if (r->n_results > 1) {
        double *v = calloc((size_t)(r->layout.n_tasks + r->layout.n_metrics + 1), sizeof *v);
        host_epoch_record mean;
        if (!v)
            b.failed = 1;
        else if (mean_record(r, &mean, v))
            results_csv_row(r, &mean, "mean", &b);
        free(v);
    }
    st = host_buf_status(&b, "results");
    if (st == MTL_OK)
        st = host_run_write(r, "results.csv", host_buf_str(&b), b.len);
    host_buf_free(&b);
    return st;
}

mtl_status host_run_finish(host_run *r, const char *about)
{
    host_buf b = {0};
    char label[32];
    mtl_status st;

    host_buf_printf(&b, "# %s with %s\n\n%s\n\n", r->layout.task, r->layout.method, about);
    host_buf_printf(&b, "Test metrics and training losses are those of each trial's selected "
                        "epoch; Delta_m in %%, lower is better. Files: config.ini (the resolved "
                        "configuration), metrics.csv and metrics.jsonl (one row per epoch), "
                        "results.csv (this table).\n\n");
    md_header(r, &b);
    for (size_t i = 0; i < r->n_results; i++) {
        snprintf(label, sizeof label, "%d", r->results[i].rec.trial);
        md_row(r, &r->results[i].rec, label, &b);
    }
    if (r->n_results > 1)
        md_mean(r, &b);
    st = host_buf_status(&b, "results");
    if (st == MTL_OK)
        st = write_results_csv(r);
    if (st == MTL_OK)
        st = host_run_write(r, "results.md", host_buf_str(&b), b.len);
    host_buf_free(&b);
    if (st == MTL_OK)
        st = host_run_flush(r);
    return st;
}

/* ---- run.json --------------------------------------------------------- */

static void json_key_string(host_buf *b, const char *key, const char *value)
{
    host_buf_printf(b, "\"%s\":", key);
    host_buf_json_string(b, value);
}

static void json_metrics(const host_run *r, host_buf *b)
{
    const host_run_layout *l = &r->layout;

    host_buf_printf(b, "\"metrics\":[");
    for (int m = 0; m < l->n_metrics; m++) {
        const mtl_metric *mt = &l->metrics[m];
        host_buf_printf(b, "%s{", m ? "," : "");
        json_key_string(b, "label", r->metric_labels[m]);
        host_buf_printf(b, ",");
        json_key_string(b, "name", mt->name);
        host_buf_printf(b, ",\"task\":");
        if (mt->task >= 0 && mt->task < l->n_tasks)
            host_buf_json_string(b, l->task_names[mt->task]);
        else
            host_buf_printf(b, "null");
        host_buf_printf(
            b, ",\"higher_is_better\":%s,\"baseline\":", mt->higher_is_better ? "true" : "false");
        if (mt->baseline != 0)
            json_number(b, mt->baseline);
        else
            host_buf_printf(b, "null");
        host_buf_printf(b, ",");
        json_key_string(b, "unit", mt->unit);
        host_buf_printf(b, "}");
    }
    host_buf_printf(b, "]");
}

mtl_status host_run_write_info(host_run *r, const host_run_info *info)
{
    const host_run_layout *l = &r->layout;
    host_buf b = {0};
    mtl_status st;

    host_buf_printf(&b, "{\"mtlhost\":\"%s\",\"abi\":\"%d.%d\",\"method\":{", MTL_VERSION_STRING,
                    MTL_ABI_MAJOR, MTL_ABI_MINOR);
    json_key_string(&b, "name", l->method);
    host_buf_printf(&b, ",");
    json_key_string(&b, "path", info->method_path);
    host_buf_printf(&b, "},\"task\":{");
    json_key_string(&b, "name", l->task);
    host_buf_printf(&b, ",");
    json_key_string(&b, "path", info->task_path);
    host_buf_printf(&b, "},\"seed\":%lld,", (long long)info->seed);
    json_key_string(&b, "status", info->status);
    host_buf_printf(&b, ",\"error\":");
    if (info->error)
        host_buf_json_string(&b, info->error);
    else
        host_buf_printf(&b, "null");
    host_buf_printf(&b, ",\"tasks\":[");
    for (int i = 0; i < l->n_tasks; i++) {
        host_buf_printf(&b, "%s", i ? "," : "");
        host_buf_json_string(&b, l->task_names[i]);
    }
    host_buf_printf(&b, "],");
    json_metrics(r, &b);
    host_buf_printf(&b, ",");
    json_key_string(&b, "wandb_id", info->wandb_id);
    host_buf_printf(&b, "}\n");
    st = host_buf_status(&b, "run.json");
    if (st == MTL_OK)
        st = host_run_write(r, "run.json", host_buf_str(&b), b.len);
    host_buf_free(&b);
    return st;
}

/* ---- checkpoints ------------------------------------------------------ */

static void put_record(host_buf *b, const host_run *r, const host_epoch_record *e)
{
    int k = r->layout.n_tasks, m = r->layout.n_metrics;

    host_put_u32(b, (uint32_t)e->trial);
    host_put_i64(b, e->epoch);
    host_put_i64(b, e->steps);
    host_put_f64s(b, e->train_loss, (size_t)k);
    host_put_f64s(b, e->weights, (size_t)k);
    host_put_f64(b, e->method_loss);
    host_put_u32(b, (e->train ? 1u : 0u) | (e->val ? 2u : 0u) | (e->test ? 4u : 0u));
    for (int j = 0; j < m; j++) {
        host_put_f64(b, e->train ? e->train[j] : NAN);
        host_put_f64(b, e->val ? e->val[j] : NAN);
        host_put_f64(b, e->test ? e->test[j] : NAN);
    }
    host_put_f64(b, e->val_delta_m);
    host_put_f64(b, e->test_delta_m);
    host_put_f64(b, e->lr);
    host_put_f64(b, e->seconds);
    host_put_i64(b, e->skipped);
    host_put_i64(b, e->solver_failures);
    host_put_i64(b, e->global_step);
}

void host_run_save_record(host_buf *b, const host_run *r, const host_epoch_record *e)
{
    put_record(b, r, e);
}

mtl_status host_run_load_record(host_reader *rd, const host_run *r, host_epoch_record *e, double *v)
{
    int k = r->layout.n_tasks, m = r->layout.n_metrics;
    uint32_t have;

    memset(e, 0, sizeof *e);
    e->trial = (int)host_get_u32(rd);
    e->epoch = host_get_i64(rd);
    e->steps = host_get_i64(rd);
    host_get_f64s(rd, v, (size_t)k);
    host_get_f64s(rd, v + k, (size_t)k);
    e->train_loss = v;
    e->weights = v + k;
    e->method_loss = host_get_f64(rd);
    have = host_get_u32(rd);
    for (int j = 0; j < m; j++) {
        v[2 * k + j] = host_get_f64(rd);
        v[2 * k + m + j] = host_get_f64(rd);
        v[2 * k + 2 * m + j] = host_get_f64(rd);
    }
    e->train = have & 1u ? v + 2 * k : NULL;
    e->val = have & 2u ? v + 2 * k + m : NULL;
    e->test = have & 4u ? v + 2 * k + 2 * m : NULL;
    e->val_delta_m = host_get_f64(rd);
    e->test_delta_m = host_get_f64(rd);
    e->lr = host_get_f64(rd);
    e->seconds = host_get_f64(rd);
    e->skipped = host_get_i64(rd);
    e->solver_failures = host_get_i64(rd);
    e->global_step = host_get_i64(rd);
    return rd->failed ? MTL_ERR_DATA : MTL_OK;
}

void host_run_state_save(const host_run *r, host_buf *out)
{
    host_put_blob(out, host_buf_str(&r->csv), r->csv.len);
    host_put_blob(out, host_buf_str(&r->jsonl), r->jsonl.len);
    host_put_blob(out, host_buf_str(&r->steps), r->steps.len);
    host_put_u64(out, r->n_results);
    for (size_t i = 0; i < r->n_results; i++)
        put_record(out, r, &r->results[i].rec);
    host_put_u32(out, r->tb ? 1u : 0u);
    if (r->tb)
        host_tboard_state_save(r->tb, out);
}

static mtl_status load_text(host_reader *rd, host_buf *b)
{
    size_t n;
    const void *p = host_get_blob(rd, &n);

    host_buf_clear(b);
    if (rd->failed)
        return MTL_ERR_DATA;
    if (n)
        host_buf_append(b, p, n);
    return host_buf_status(b, "checkpoint");
}

mtl_status host_run_state_load(host_run *r, host_reader *rd)
{
    int k = r->layout.n_tasks, m = r->layout.n_metrics;
    uint64_t n;
    mtl_status st;

    if ((st = load_text(rd, &r->csv)) != MTL_OK || (st = load_text(rd, &r->jsonl)) != MTL_OK ||
        (st = load_text(rd, &r->steps)) != MTL_OK)
        return st;
    n = host_get_u64(rd);
    if (rd->failed || n > 1000000)
        return MTL_ERR_DATA;
    for (size_t i = 0; i < r->n_results; i++)
        free(r->results[i].values);
    r->n_results = 0;
    for (uint64_t i = 0; i < n; i++) {
        double *v = calloc((size_t)(2 * k + 3 * m + 1), sizeof *v);
        host_epoch_record e;
        if (!v)
            return mtl_error_set(MTL_ERR_NOMEM, "run: out of memory");
        st = host_run_load_record(rd, r, &e, v);
        if (st == MTL_OK)
            st = host_run_add_result(r, &e);
        free(v);
        if (st != MTL_OK)
            return st;
    }
    if (host_get_u32(rd) && r->tb && (st = host_tboard_state_load(r->tb, rd)) != MTL_OK)
        return st;
    r->dirty = 1;
    return rd->failed ? MTL_ERR_DATA : MTL_OK;
}

/* ---- housekeeping ----------------------------------------------------- */

int host_dir_exists(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void remove_tmp_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char path[4096];
        if (n <= 4 || strcmp(e->d_name + n - 4, ".tmp") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

void host_run_remove_tmp(const host_run *r)
{
    char tb[4096];

    remove_tmp_in(r->dir);
    snprintf(tb, sizeof tb, "%s/tensorboard", r->dir);
    remove_tmp_in(tb);
}
