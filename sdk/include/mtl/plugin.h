/*
 * mtl/plugin.h - what every plugin shares: the ABI header, declared options,
 * and the table of services the host lends to each plugin instance.
 *
 * A plugin is a shared object exporting one entry function (see method.h and
 * task.h) that returns a pointer to a static struct.  That struct begins with
 * an mtl_plugin_header; the host reads the header first, refuses another ABI
 * major, and refuses a struct smaller than the one of ABI minor 0.  Fields are
 * only ever appended, so the host reads a field added in minor N only when
 * the header's size covers it.  Build plugins with -fvisibility=hidden and
 * export the entry alone with MTL_EXPORT.
 */
#ifndef MTL_PLUGIN_H
#define MTL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/rng.h"
#include "mtl/status.h"
#include "mtl/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MTL_EXPORT __attribute__((visibility("default")))
#else
#define MTL_EXPORT
#endif

typedef enum mtl_plugin_kind {
    MTL_PLUGIN_METHOD = 1,
    MTL_PLUGIN_TASK = 2
} mtl_plugin_kind;

typedef struct mtl_plugin_header {
    uint32_t abi_major; /* MTL_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor; /* MTL_ABI_MINOR the plugin was built with */
    uint32_t size;      /* sizeof the whole plugin struct */
    uint32_t kind;      /* an mtl_plugin_kind */
} mtl_plugin_header;

/* The header of a plugin struct of C type `type`, for static initialisers. */
#define MTL_PLUGIN_HEADER(kind, type)                                          \
    {                                                                          \
        MTL_ABI_MAJOR, MTL_ABI_MINOR, (uint32_t)sizeof(type), (uint32_t)(kind) \
    }

/* ---- options ---------------------------------------------------------- */

typedef enum mtl_option_type {
    MTL_OPT_INT = 0,        /* 64-bit integer */
    MTL_OPT_DOUBLE = 1,     /* finite double */
    MTL_OPT_BOOL = 2,       /* true/false, yes/no, on/off, 1/0 */
    MTL_OPT_STRING = 3,     /* any text */
    MTL_OPT_ENUM = 4,       /* one of `choices` */
    MTL_OPT_DOUBLE_LIST = 5 /* comma-separated doubles, possibly empty */
} mtl_option_type;

/* Bits of mtl_option.flags */
#define MTL_OPT_HAS_MIN       0x1u /* value >= min */
#define MTL_OPT_HAS_MAX       0x2u /* value <= max */
#define MTL_OPT_MIN_EXCLUSIVE 0x4u /* with HAS_MIN: value > min */

/*
 * One key a plugin accepts in its INI section ([method] or [task]).  The
 * host validates every value against this declaration before the plugin
 * sees it, and rejects keys nobody declared.
 */
typedef struct mtl_option {
    const char *key; /* [a-z0-9_]+ */
    mtl_option_type type;
    const char *default_value; /* as written in an INI file */
    const char *choices;       /* MTL_OPT_ENUM: "sum|mean"; NULL otherwise */
    unsigned flags; /* MTL_OPT_HAS_MIN, ... (numbers and list items) */
    double min, max;
    const char *help; /* one line, for --help and the docs */
} mtl_option;

/* ---- host services ---------------------------------------------------- */

typedef enum mtl_log_level {
    MTL_LOG_DEBUG = 0,
    MTL_LOG_INFO = 1,
    MTL_LOG_WARN = 2,
    MTL_LOG_ERROR = 3
} mtl_log_level;

typedef struct mtl_host mtl_host;

/*
 * Services the host lends to one plugin instance, valid from create() until
 * destroy().  Config getters take a key of the plugin's own section ("c"),
 * or "section.key" for another ("train.batch_size"); they fail with
 * MTL_ERR_CONFIG for an undeclared key or a getter of the wrong type.
 * Strings returned stay valid until destroy().
 */
struct mtl_host {
    uint32_t abi_major, abi_minor, size, reserved;

    /* Logs one line, prefixed by the host with the plugin's name. */
    void (*log)(const mtl_host *host, mtl_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    mtl_status (*config_int)(const mtl_host *host, const char *key,
                             int64_t *out);
    mtl_status (*config_double)(const mtl_host *host, const char *key,
                                double *out);
    mtl_status (*config_bool)(const mtl_host *host, const char *key, int *out);
    /* MTL_OPT_STRING and MTL_OPT_ENUM */
    mtl_status (*config_string)(const mtl_host *host, const char *key,
                                const char **out);
    mtl_status (*config_doubles)(const mtl_host *host, const char *key,
                                 const double **values, size_t *n);

    /*
     * This plugin's own random stream, derived from the run's seed; the host
     * saves and restores it with checkpoints.  Never NULL.
     */
    mtl_rng *rng;

    /* Where the plugin may write the run's artefacts; NULL when none. */
    const char *run_dir;

    /* The project's data and tools folder (share/mtl when installed). */
    const char *data_dir;

    void *host_private; /* the host's; plugins never touch it */
};

#ifdef __cplusplus
}
#endif

#endif /* MTL_PLUGIN_H */
