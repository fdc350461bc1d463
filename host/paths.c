/* Where the host finds plugins, tools and data (see paths.h). */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text.h"

#ifndef MTL_SOURCE_DIR
#error "MTL_SOURCE_DIR must name the source tree"
#endif
#ifndef MTL_BUILD_DIR
#error "MTL_BUILD_DIR must name the top build folder"
#endif
#ifndef MTL_INSTALL_PLUGINDIR
#define MTL_INSTALL_PLUGINDIR "lib/mtl/plugins"
#endif
#ifndef MTL_INSTALL_DATADIR
#define MTL_INSTALL_DATADIR "share/mtl"
#endif

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static mtl_status exe_dir(host_paths *p)
{
    char buf[PATH_MAX];
    char why[128];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    char *slash;

    if (n < 0)
        return mtl_error_set(MTL_ERR_IO, "paths: cannot find the executable: /proc/self/exe: %s",
                             host_strerror(errno, why, sizeof why));
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    p->exe_dir = host_strdup(buf);
    return p->exe_dir ? MTL_OK : mtl_error_set(MTL_ERR_NOMEM, "paths: out of memory");
}

/* Nonzero when a and b name the same existing folder. */
static int same_dir(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];

    return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static int add_dir(host_paths *p, char *dir)
{
    char **grown;

    if (!dir)
        return 0;
    grown = realloc(p->plugin_dirs, (p->n_plugin_dirs + 1) * sizeof *grown);
    if (!grown) {
        free(dir);
        return 0;
    }
    p->plugin_dirs = grown;
    p->plugin_dirs[p->n_plugin_dirs++] = dir;
    return 1;
}

static int add_env_dirs(host_paths *p)
{
    const char *env = getenv("MTL_PLUGIN_PATH");
    const char *s = env;

    while (s && *s) {
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (n > 0) {
            char *dir = malloc(n + 1);
            if (dir) {
                memcpy(dir, s, n);
                dir[n] = '\0';
            }
            if (!add_dir(p, dir))
                return 0;
        }
        s = colon ? colon + 1 : NULL;
    }
    return 1;
}

mtl_status host_paths_init(host_paths *p)
{
    mtl_status st;
    char *prefix;

    memset(p, 0, sizeof *p);
    if ((st = exe_dir(p)) != MTL_OK)
        return st;
    p->installed = !same_dir(p->exe_dir, MTL_BUILD_DIR);
    prefix = join(p->exe_dir, "..");
    if (!prefix || !add_env_dirs(p) || !add_dir(p, join(p->exe_dir, "plugins")) ||
        !add_dir(p, join(prefix, "lib/mtl/plugins"))) {
        free(prefix);
        host_paths_deinit(p);
        return mtl_error_set(MTL_ERR_NOMEM, "paths: out of memory");
    }
    /* A libdir other than lib (lib64, lib/<triplet>) is searched as well. */
    if (strcmp(MTL_INSTALL_PLUGINDIR, "lib/mtl/plugins") != 0)
        add_dir(p, join(prefix, MTL_INSTALL_PLUGINDIR));
    p->data_dir = p->installed ? join(prefix, MTL_INSTALL_DATADIR) : host_strdup(MTL_SOURCE_DIR);
    p->tools_dir = p->data_dir ? join(p->data_dir, "tools") : NULL;
    free(prefix);
    if (!p->tools_dir) {
        host_paths_deinit(p);
        return mtl_error_set(MTL_ERR_NOMEM, "paths: out of memory");
    }
    return MTL_OK;
}

void host_paths_deinit(host_paths *p)
{
    for (size_t i = 0; i < p->n_plugin_dirs; i++)
        free(p->plugin_dirs[i]);
    free(p->plugin_dirs);
    free(p->exe_dir);
    free(p->data_dir);
    free(p->tools_dir);
    memset(p, 0, sizeof *p);
}

void host_paths_describe(const host_paths *p, char *buf, size_t cap)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < p->n_plugin_dirs && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", p->plugin_dirs[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}
