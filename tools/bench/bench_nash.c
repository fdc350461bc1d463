/*
 * bench_nash - microseconds per Nash-MTL solve, through the nashmtl plugin's
 * weigh() exactly as the host calls it (every step a solve).
 *
 *   bench_nash [path/to/nashmtl.so]      (default: ../plugins/nashmtl.so
 *                                         beside this executable)
 *
 * For k = 2, 3, 4, 8, 11, 16 and 64 tasks: Gram matrices of seeded random
 * task gradients J (k x 4k, standard normal, each row scaled by e^N(0,1)),
 *   cold: warm_start = false, a new unrelated M every solve;
 *   warm: a training-like sequence J <- J + 0.05 N(0, 1) (every row scaled
 *         again), each solve starting from the previous solution.
 * Prints the mean time per solve, the solves that failed (reported by the
 * plugin) and the largest residual max_i |alpha_i (M alpha)_i - 1| seen.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, readlink */

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtl/mtl.h"

#define N_MATRICES  64
#define MIN_SECONDS 0.2
#define PATH_CAP    4096

typedef struct bench_host {
    mtl_host host;
    const mtl_method_plugin *plugin;
    int warm;
    mtl_rng rng;
} bench_host;

/* The declared default of `key`, or the bench's own warm_start. */
static const char *option_value(const mtl_host *host, const char *key)
{
    const bench_host *bh = host->host_private;

    if (strcmp(key, "warm_start") == 0)
        return bh->warm ? "true" : "false";
    for (size_t i = 0; i < bh->plugin->n_options; i++)
        if (strcmp(bh->plugin->options[i].key, key) == 0)
            return bh->plugin->options[i].default_value;
    return NULL;
}

static mtl_status get_int(const mtl_host *host, const char *key, int64_t *out)
{
    const char *v = option_value(host, key);

    if (!v)
        return mtl_error_set(MTL_ERR_CONFIG, "bench: no key '%s'", key);
    *out = strtoll(v, NULL, 10);
    return MTL_OK;
}

static mtl_status get_double(const mtl_host *host, const char *key, double *out)
{
    const char *v = option_value(host, key);

    if (!v)
        return mtl_error_set(MTL_ERR_CONFIG, "bench: no key '%s'", key);
    *out = strtod(v, NULL);
    return MTL_OK;
}

static mtl_status get_bool(const mtl_host *host, const char *key, int *out)
{
    const char *v = option_value(host, key);

    if (!v)
        return mtl_error_set(MTL_ERR_CONFIG, "bench: no key '%s'", key);
    *out = strcmp(v, "true") == 0;
    return MTL_OK;
}

static mtl_status get_string(const mtl_host *host, const char *key, const char **out)
{
    *out = option_value(host, key);
    return *out ? MTL_OK : mtl_error_set(MTL_ERR_CONFIG, "bench: no key '%s'", key);
}

static mtl_status get_doubles(const mtl_host *host, const char *key, const double **values,
                              size_t *n)
{
    (void)host;
    (void)values;
    (void)n;
    return mtl_error_set(MTL_ERR_CONFIG, "bench: no list key '%s'", key);
}

static void bench_log(const mtl_host *host, mtl_log_level level, const char *fmt, ...)
{
    va_list ap;

    (void)host;
    (void)level;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void host_init(bench_host *bh, const mtl_method_plugin *plugin, int warm)
{
    memset(bh, 0, sizeof *bh);
    bh->plugin = plugin;
    bh->warm = warm;
    mtl_rng_seed(&bh->rng, 1, 0);
    bh->host.abi_major = MTL_ABI_MAJOR;
    bh->host.abi_minor = MTL_ABI_MINOR;
    bh->host.size = sizeof bh->host;
    bh->host.log = bench_log;
    bh->host.config_int = get_int;
    bh->host.config_double = get_double;
    bh->host.config_bool = get_bool;
    bh->host.config_string = get_string;
    bh->host.config_doubles = get_doubles;
    bh->host.rng = &bh->rng;
    bh->host.host_private = bh;
}

static const mtl_method_plugin *load_plugin(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    mtl_method_entry_fn entry;

    if (!dl) {
        fprintf(stderr, "bench_nash: cannot load %s: %s\n", path, dlerror());
        return NULL;
    }
    *(void **)&entry = dlsym(dl, MTL_METHOD_ENTRY_SYMBOL);
    if (!entry) {
        fprintf(stderr, "bench_nash: %s has no %s\n", path, MTL_METHOD_ENTRY_SYMBOL);
        return NULL;
    }
    return entry();
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void gram(const double *J, int k, int d, const double *scale, double *M)
{
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double s = 0.0;
            for (int p = 0; p < d; p++)
                s += J[i * d + p] * J[j * d + p];
            M[i * k + j] = s * scale[i] * scale[j];
        }
}

/* N_MATRICES Gram matrices: unrelated (cold) or a slowly moving sequence (warm). */
static double *make_grams(int k, int warm, mtl_rng *rng)
{
    int d = 4 * k;
    double *J = malloc(sizeof *J * (size_t)k * d);
    double *scale = malloc(sizeof *scale * (size_t)k);
    double *M = malloc(sizeof *M * (size_t)k * k * N_MATRICES);

    if (!J || !scale || !M) {
        free(J);
        free(scale);
        free(M);
        return NULL;
    }
    for (int i = 0; i < k * d; i++)
        J[i] = mtl_rng_normal(rng);
    for (int i = 0; i < k; i++)
        scale[i] = exp(mtl_rng_normal(rng));
    for (int t = 0; t < N_MATRICES; t++) {
        for (int i = 0; i < k * d; i++)
            J[i] = warm ? J[i] + 0.05 * mtl_rng_normal(rng) : mtl_rng_normal(rng);
        for (int i = 0; i < k && !warm; i++)
            scale[i] = exp(mtl_rng_normal(rng));
        gram(J, k, d, scale, M + (size_t)t * k * k);
    }
    free(J);
    free(scale);
    return M;
}

typedef struct result {
    double us;
    long solves, failed;
    double residual;
} result;

static double residual(const double *M, int k, const double *a)
{
    double r = 0.0;

    for (int i = 0; i < k; i++) {
        double ma = 0.0;
        for (int j = 0; j < k; j++)
            ma += M[i * k + j] * a[j];
        r = fmax(r, fabs(a[i] * ma - 1.0));
    }
    return r;
}

static int run(const mtl_method_plugin *p, int k, int warm, result *res)
{
    bench_host bh;
    mtl_method_info info = {0};
    void *self = NULL;
    double *grams, *losses, *c, *h, *w;
    float param_grads[1];
    double start, elapsed = 0.0;
    int64_t step = 0;
    mtl_rng rng;

    mtl_rng_seed(&rng, 2022, (uint64_t)k);
    grams = make_grams(k, warm, &rng);
    losses = calloc((size_t)k, sizeof *losses);
    c = calloc((size_t)k, sizeof *c);
    h = calloc((size_t)k, sizeof *h);
    w = calloc((size_t)k, sizeof *w);
    host_init(&bh, p, warm);
    if (!grams || !losses || !c || !h || !w || p->create(&bh.host, k, &self, &info) != MTL_OK) {
        fprintf(stderr, "bench_nash: k = %d: %s\n", k, mtl_error_message());
        return -1;
    }

    memset(res, 0, sizeof *res);
    start = now();
    while (elapsed < MIN_SECONDS || step < 2 * N_MATRICES) {
        const double *M = grams + (size_t)(step % N_MATRICES) * k * k;
        mtl_method_input in = {step, k, losses, M, NULL};
        mtl_method_output out = {c, h, param_grads, 0, 0, 0, NULL, w};

        if (p->weigh(self, &in, &out) != MTL_OK) {
            fprintf(stderr, "bench_nash: weigh: %s\n", mtl_error_message());
            return -1;
        }
        res->failed += out.solve_failed;
        /* The warm sequence restarts from its first matrix: not timed twice as warm. */
        if (step < N_MATRICES)
            res->residual = fmax(res->residual, residual(M, k, c));
        step++;
        if (step % N_MATRICES == 0)
            elapsed = now() - start;
    }
    res->solves = step;
    res->us = 1e6 * elapsed / (double)step;
    p->destroy(self);
    free(grams);
    free(losses);
    free(c);
    free(h);
    free(w);
    return 0;
}

int main(int argc, char **argv)
{
    static const int ks[] = {2, 3, 4, 8, 11, 16, 64};
    char path[PATH_CAP];
    const mtl_method_plugin *p;

    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        char *slash;
        if (n <= 0)
            return 1;
        path[n] = '\0';
        slash = strrchr(path, '/');
        snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
                 "../plugins/nashmtl.so");
    }
    if (!(p = load_plugin(path)))
        return 1;

    printf("Nash-MTL solve through nashmtl.so weigh(), microseconds per solve\n");
    printf("(M = Gram matrix of k x 4k seeded normal J, rows scaled by e^N(0,1);\n");
    printf(" cold: unrelated M each solve; warm: J += 0.05 N(0,1) between solves)\n\n");
    printf("%4s  %10s  %10s  %8s  %14s\n", "k", "cold us", "warm us", "failed", "max residual");
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        result cold, warm;
        if (run(p, ks[i], 0, &cold) != 0 || run(p, ks[i], 1, &warm) != 0)
            return 1;
        printf("%4d  %10.2f  %10.2f  %8ld  %14.2e\n", ks[i], cold.us, warm.us,
               cold.failed + warm.failed, fmax(cold.residual, warm.residual));
    }
    return 0;
}
