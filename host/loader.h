/*
 * host/loader.h - finding, opening and checking method and task plugins.
 *
 * An argument containing '/' or ending in ".so" is a path; anything else is
 * a name, searched as <name>.so along the search path (paths.h).  The
 * plugin is opened with RTLD_NOW | RTLD_LOCAL, its entry symbol called, and
 * its struct checked before any other field is read: ABI major, size, kind,
 * the callbacks the host needs, and its option declarations.
 */
#ifndef MTL_HOST_LOADER_H
#define MTL_HOST_LOADER_H

#include "mtl/method.h"
#include "mtl/task.h"
#include "paths.h"
#include "text.h"

typedef struct host_plugin {
    char *path; /* where it was loaded from */
    void *dl;
    mtl_plugin_kind kind;
    const mtl_method_plugin *method; /* kind MTL_PLUGIN_METHOD */
    const mtl_task_plugin *task;     /* kind MTL_PLUGIN_TASK */
    const char *name;                /* the plugin's own name */
} host_plugin;

/* Finds and loads `arg` as a plugin of `kind`; errors name the path. */
mtl_status host_plugin_load(host_plugin *plugin, const host_paths *paths, mtl_plugin_kind kind,
                            const char *arg);
void host_plugin_unload(host_plugin *plugin);

/*
 * Nonzero when the task plugin saves its own state for checkpoints: its
 * header.size covers state_save and state_load (appended to the struct)
 * and both are set.
 */
int host_task_has_state(const mtl_task_plugin *task);

/*
 * One line per .so of the search path that is a plugin of `kind` (name,
 * version, ABI, description) or that could not be loaded (the reason).
 */
mtl_status host_plugin_list(const host_paths *paths, mtl_plugin_kind kind, host_buf *out);

#endif /* MTL_HOST_LOADER_H */
