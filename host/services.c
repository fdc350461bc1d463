/* The services lent to each plugin instance (see services.h). */
#include "services.h"

#include <stdarg.h>
#include <string.h>

#include "log.h"

static const host_service *from_host(const mtl_host *host)
{
    return (const host_service *)host->host_private;
}

static void service_log(const mtl_host *host, mtl_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv(level, from_host(host)->name, fmt, ap);
    va_end(ap);
}

static mtl_status get_int(const mtl_host *host, const char *key, int64_t *out)
{
    const host_service *s = from_host(host);
    return host_config_int(s->cfg, s->own_section, s->name, key, out);
}

static mtl_status get_double(const mtl_host *host, const char *key, double *out)
{
    const host_service *s = from_host(host);
    return host_config_double(s->cfg, s->own_section, s->name, key, out);
}

static mtl_status get_bool(const mtl_host *host, const char *key, int *out)
{
    const host_service *s = from_host(host);
    return host_config_bool(s->cfg, s->own_section, s->name, key, out);
}

static mtl_status get_string(const mtl_host *host, const char *key, const char **out)
{
    const host_service *s = from_host(host);
    return host_config_string(s->cfg, s->own_section, s->name, key, out);
}

static mtl_status get_doubles(const mtl_host *host, const char *key, const double **values,
                              size_t *n)
{
    const host_service *s = from_host(host);
    return host_config_doubles(s->cfg, s->own_section, s->name, key, values, n);
}

void host_service_init(host_service *s, const char *name, const host_config *cfg, int own_section,
                       uint64_t seed, uint64_t stream, const char *run_dir, const char *data_dir)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->cfg = cfg;
    s->own_section = own_section;
    mtl_rng_seed(&s->rng, seed, stream);

    s->host.abi_major = MTL_ABI_MAJOR;
    s->host.abi_minor = MTL_ABI_MINOR;
    s->host.size = sizeof s->host;
    s->host.log = service_log;
    s->host.config_int = get_int;
    s->host.config_double = get_double;
    s->host.config_bool = get_bool;
    s->host.config_string = get_string;
    s->host.config_doubles = get_doubles;
    s->host.rng = &s->rng;
    s->host.run_dir = run_dir;
    s->host.data_dir = data_dir;
    s->host.host_private = s;
}

/* ---- instances -------------------------------------------------------- */

static mtl_status create_failed(mtl_status st, const char *name)
{
    if (!*mtl_error_message())
        mtl_error_set(st, "no reason given");
    return mtl_error_wrap(st == MTL_OK ? MTL_ERR_PLUGIN : st, "%s: create failed", name);
}

static mtl_status method_info_check(const host_method_slot *s, int n_tasks)
{
    const mtl_method_info *info = &s->info;

    if (info->single_task && (info->main_task < 0 || info->main_task >= n_tasks))
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "%s broke its contract: main_task (expected 0..%d, got %d)",
                             s->plugin->name, n_tasks - 1, info->main_task);
    if (info->n_params && !info->param_init)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "%s broke its contract: param_init (expected %zu values, got NULL)",
                             s->plugin->name, info->n_params);
    if (info->n_params && !(info->param_lr > 0))
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "%s broke its contract: param_lr (expected > 0, got %g)",
                             s->plugin->name, info->param_lr);
    return MTL_OK;
}

mtl_status host_method_open(host_method_slot *s, const mtl_method_plugin *plugin,
                            const host_env *env, int trial, int n_tasks)
{
    mtl_status st;

    memset(s, 0, sizeof *s);
    s->plugin = plugin;
    host_service_init(&s->svc, plugin->name, env->cfg, HOST_SEC_METHOD, env->seed,
                      (uint64_t)MTL_PLUGIN_METHOD + 256u * (uint64_t)trial, env->run_dir,
                      env->data_dir);
    mtl_error_clear();
    st = plugin->create(&s->svc.host, n_tasks, &s->self, &s->info);
    if (st != MTL_OK) {
        s->self = NULL;
        return create_failed(st, plugin->name);
    }
    st = method_info_check(s, n_tasks);
    if (st != MTL_OK)
        host_method_close(s);
    return st;
}

void host_method_close(host_method_slot *s)
{
    if (s->self)
        s->plugin->destroy(s->self);
    s->self = NULL;
}

static mtl_status task_broke(const char *name, const char *what)
{
    return mtl_error_set(MTL_ERR_PLUGIN, "%s broke its contract: %s", name, what);
}

static mtl_status metrics_check(const char *name, const mtl_task_info *info)
{
    if (info->n_metrics < 0 || (info->n_metrics > 0 && !info->metrics))
        return task_broke(name, "metrics (expected n_metrics >= 0 entries)");
    for (int m = 0; m < info->n_metrics; m++) {
        const mtl_metric *mt = &info->metrics[m];
        if (!mt->name || !*mt->name || !mt->unit)
            return mtl_error_set(MTL_ERR_PLUGIN,
                                 "%s broke its contract: metric %d (expected a name and a unit "
                                 "string)",
                                 name, m);
        if (mt->task < -1 || mt->task >= info->n_tasks)
            return mtl_error_set(MTL_ERR_PLUGIN,
                                 "%s broke its contract: metric '%s' (expected task -1..%d, got "
                                 "%d)",
                                 name, mt->name, info->n_tasks - 1, mt->task);
    }
    return MTL_OK;
}

static mtl_status task_info_check(const char *name, const mtl_task_info *info)
{
    if (info->n_tasks < 1)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "%s broke its contract: n_tasks (expected at least 1, got %d)", name,
                             info->n_tasks);
    if (!info->task_names)
        return task_broke(name, "task_names (expected n_tasks names, got NULL)");
    for (int i = 0; i < info->n_tasks; i++)
        if (!info->task_names[i] || !*info->task_names[i])
            return mtl_error_set(
                MTL_ERR_PLUGIN, "%s broke its contract: task_names[%d] (expected a name)", name, i);
    if (!info->model)
        return task_broke(name, "model (expected a model, got NULL)");
    if (info->n_trials < 0)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "%s broke its contract: n_trials (expected >= 0, got %d)", name,
                             info->n_trials);
    return metrics_check(name, info);
}

mtl_status host_task_open(host_task_slot *s, const mtl_task_plugin *plugin, const host_env *env)
{
    mtl_status st;

    memset(s, 0, sizeof *s);
    s->plugin = plugin;
    host_service_init(&s->svc, plugin->name, env->cfg, HOST_SEC_TASK, env->seed,
                      (uint64_t)MTL_PLUGIN_TASK, env->run_dir, env->data_dir);
    mtl_error_clear();
    st = plugin->create(&s->svc.host, &s->self, &s->info);
    if (st != MTL_OK) {
        s->self = NULL;
        return create_failed(st, plugin->name);
    }
    st = task_info_check(plugin->name, &s->info);
    if (st != MTL_OK)
        host_task_close(s);
    return st;
}

void host_task_close(host_task_slot *s)
{
    if (s->self)
        s->plugin->destroy(s->self);
    s->self = NULL;
}
