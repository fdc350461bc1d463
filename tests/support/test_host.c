/* Test support: plugin loading and a stand-in host (see test_host.h). */
#include "test_host.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *load_entry(const char *name, const char *symbol)
{
    char path[1024];
    void *dl;
    void *entry;

    snprintf(path, sizeof path, "%s/%s.so", MTL_TEST_PLUGIN_DIR, name);
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "test: cannot load %s: %s\n", path, dlerror());
        abort();
    }
    entry = dlsym(dl, symbol);
    if (!entry) {
        fprintf(stderr, "test: %s has no %s\n", path, symbol);
        abort();
    }
    /* The plugin stays loaded until the test program exits. */
    return entry;
}

const mtl_method_plugin *mtl_test_load_method(const char *name)
{
    mtl_method_entry_fn fn;

    *(void **)&fn = load_entry(name, MTL_METHOD_ENTRY_SYMBOL);
    return fn();
}

const mtl_task_plugin *mtl_test_load_task(const char *name)
{
    mtl_task_entry_fn fn;

    *(void **)&fn = load_entry(name, MTL_TASK_ENTRY_SYMBOL);
    return fn();
}

static mtl_test_host *from_host(const mtl_host *host)
{
    return (mtl_test_host *)host->host_private;
}

/* The value text for `key`: an override, else the declared default. */
static const char *lookup(const mtl_test_host *th, const char *key, const mtl_option **decl)
{
    size_t len = strlen(key);

    *decl = NULL;
    for (size_t i = 0; i < th->n_options; i++)
        if (strcmp(th->options[i].key, key) == 0)
            *decl = &th->options[i];
    for (size_t i = th->n_overrides; i-- > 0;) {
        const char *o = th->overrides[i];
        if (strncmp(o, key, len) == 0 && o[len] == '=')
            return o + len + 1;
    }
    return *decl ? (*decl)->default_value : NULL;
}

static mtl_status missing(const char *key)
{
    return mtl_error_set(MTL_ERR_CONFIG, "test host: no value for key '%s'", key);
}

static mtl_status get_int(const mtl_host *host, const char *key, int64_t *out)
{
    const mtl_option *decl;
    const char *v = lookup(from_host(host), key, &decl);

    if (!v)
        return missing(key);
    *out = strtoll(v, NULL, 10);
    return MTL_OK;
}

static mtl_status get_double(const mtl_host *host, const char *key, double *out)
{
    const mtl_option *decl;
    const char *v = lookup(from_host(host), key, &decl);

    if (!v)
        return missing(key);
    *out = strtod(v, NULL);
    return MTL_OK;
}

static mtl_status get_bool(const mtl_host *host, const char *key, int *out)
{
    const mtl_option *decl;
    const char *v = lookup(from_host(host), key, &decl);

    if (!v)
        return missing(key);
    *out = strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
           strcmp(v, "on") == 0;
    return MTL_OK;
}

static mtl_status get_string(const mtl_host *host, const char *key, const char **out)
{
    const mtl_option *decl;
    const char *v = lookup(from_host(host), key, &decl);

    if (!v)
        return missing(key);
    *out = v;
    return MTL_OK;
}

static mtl_status get_doubles(const mtl_host *host, const char *key, const double **values,
                              size_t *n)
{
    mtl_test_host *th = from_host(host);
    const mtl_option *decl;
    const char *v = lookup(th, key, &decl);
    size_t count = 0;

    if (!v)
        return missing(key);
    while (*v && count < sizeof th->list / sizeof th->list[0]) {
        char *end;
        th->list[count++] = strtod(v, &end);
        v = *end == ',' ? end + 1 : end;
        if (end == v && *v != '\0')
            break;
    }
    *values = th->list;
    *n = count;
    return MTL_OK;
}

static void test_log(const mtl_host *host, mtl_log_level level, const char *fmt, ...)
{
    mtl_test_host *th = from_host(host);
    va_list ap;

    (void)level;
    va_start(ap, fmt);
    vsnprintf(th->last_log, sizeof th->last_log, fmt, ap);
    va_end(ap);
    th->log_count++;
}

void mtl_test_host_init(mtl_test_host *th, const mtl_option *options, size_t n_options,
                        const char *const *overrides, uint64_t seed)
{
    memset(th, 0, sizeof *th);
    th->options = options;
    th->n_options = n_options;
    for (size_t i = 0; overrides && overrides[i] && i < MTL_TEST_MAX_OVERRIDES; i++)
        th->overrides[th->n_overrides++] = overrides[i];
    mtl_rng_seed(&th->rng, seed, 0);

    th->host.abi_major = MTL_ABI_MAJOR;
    th->host.abi_minor = MTL_ABI_MINOR;
    th->host.size = sizeof th->host;
    th->host.log = test_log;
    th->host.config_int = get_int;
    th->host.config_double = get_double;
    th->host.config_bool = get_bool;
    th->host.config_string = get_string;
    th->host.config_doubles = get_doubles;
    th->host.rng = &th->rng;
    th->host.run_dir = NULL;
    th->host.data_dir = MTL_TEST_SOURCE_DIR;
    th->host.host_private = th;
}
