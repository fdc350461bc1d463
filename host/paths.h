/*
 * host/paths.h - where the host finds its plugins, tools and data.
 *
 * The build tree and the install tree have the same shape around the
 * executable (see the top-level CMakeLists.txt):
 *
 *   build tree:    <build>/mtlhost, <build>/plugins/NAME.so; data and tools in
 *                  the source tree (MTL_SOURCE_DIR, MTL_SOURCE_DIR/tools)
 *   install tree:  <prefix>/bin/mtlhost, <prefix>/lib/mtl/plugins/NAME.so,
 *                  <prefix>/share/mtl, <prefix>/share/mtl/tools
 *
 * Plugins named without a path are searched, in order, in each folder of
 * MTL_PLUGIN_PATH (colon-separated), <exe dir>/plugins, and
 * <exe dir>/../lib/mtl/plugins.
 */
#ifndef MTL_HOST_PATHS_H
#define MTL_HOST_PATHS_H

#include <stddef.h>

#include "mtl/status.h"

typedef struct host_paths {
    char *exe_dir;      /* the folder of the running mtlhost */
    int installed;      /* 0 when running from the build tree */
    char *data_dir;     /* the source root, or <prefix>/share/mtl */
    char *tools_dir;    /* <data_dir>/tools */
    char **plugin_dirs; /* the search path, in order */
    size_t n_plugin_dirs;
} host_paths;

mtl_status host_paths_init(host_paths *paths);
void host_paths_deinit(host_paths *paths);

/* The search path as "a, b, c", for messages. */
void host_paths_describe(const host_paths *paths, char *buf, size_t cap);

#endif /* MTL_HOST_PATHS_H */
