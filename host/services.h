/*
 * host/services.h - the mtl_host table lent to each plugin instance: log
 * lines prefixed with the plugin's name, the config getters (own section by
 * bare key, others by "section.key"), the plugin's random stream, the run
 * directory and the data directory.
 */
#ifndef MTL_HOST_SERVICES_H
#define MTL_HOST_SERVICES_H

#include <stdint.h>

#include "config.h"
#include "mtl/method.h"
#include "mtl/plugin.h"
#include "mtl/task.h"

typedef struct host_service {
    mtl_host host; /* host.host_private points back to this struct */
    const char *name;
    const host_config *cfg;
    int own_section; /* HOST_SEC_METHOD or HOST_SEC_TASK */
    mtl_rng rng;
} host_service;

/*
 * Prepares the services of one plugin instance.  Its random stream is
 * derived from (seed, stream): the host uses the plugin kind as the stream,
 * plus 256 x trial for the method instances of later trials, so that every
 * trial's method draws fresh numbers while trial 0 sees (seed, kind).
 */
void host_service_init(host_service *s, const char *name, const host_config *cfg, int own_section,
                       uint64_t seed, uint64_t stream, const char *run_dir, const char *data_dir);

/* One instance of a method plugin, with its services. */
typedef struct host_method_slot {
    const mtl_method_plugin *plugin;
    host_service svc;
    void *self; /* NULL when closed */
    mtl_method_info info;
} host_method_slot;

/* One instance of a task plugin, with its services. */
typedef struct host_task_slot {
    const mtl_task_plugin *plugin;
    host_service svc;
    void *self;
    mtl_task_info info;
} host_task_slot;

/* Where the instances live: the run's shared facts. */
typedef struct host_env {
    const host_config *cfg;
    uint64_t seed;
    const char *run_dir;
    const char *data_dir;
} host_env;

/*
 * Creates the method instance of trial `trial` for n_tasks tasks.  A failed
 * create() gives "<name>: create failed: <the plugin's reason>"; info the
 * method breaks its contract with gives "<name> broke its contract: ...".
 */
mtl_status host_method_open(host_method_slot *slot, const mtl_method_plugin *plugin,
                            const host_env *env, int trial, int n_tasks);
void host_method_close(host_method_slot *slot);

/* Creates the task instance and checks the info it gives. */
mtl_status host_task_open(host_task_slot *slot, const mtl_task_plugin *plugin, const host_env *env);
void host_task_close(host_task_slot *slot);

#endif /* MTL_HOST_SERVICES_H */
