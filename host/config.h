/*
 * host/config.h - the run's configuration: four INI sections, every key
 * declared (by the host, the method plugin or the task plugin) and every
 * value validated against its declaration when it is set.
 *
 *   [train]   the host's training keys (host_train_options)
 *   [method]  the keys the method plugin declares
 *   [task]    the keys the task plugin declares
 *   [output]  the host's output keys (host_output_options)
 *
 * Values are applied in increasing precedence: declared defaults, the task's
 * `defaults` strings, the INI file, then --set (and --seed, --out) in the
 * order given.  Each value remembers where it came from, for messages and
 * for the resolved config.ini written into the run directory.
 */
#ifndef MTL_HOST_CONFIG_H
#define MTL_HOST_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/plugin.h"
#include "text.h"

/* The largest --config file read (a resolved config.ini is a few KiB). */
#define HOST_INI_MAX_BYTES (1 << 20)

typedef enum host_section_id {
    HOST_SEC_TRAIN = 0,
    HOST_SEC_METHOD = 1,
    HOST_SEC_TASK = 2,
    HOST_SEC_OUTPUT = 3,
    HOST_N_SECTIONS = 4
} host_section_id;

/* One value, parsed by its declared type. */
typedef struct host_value {
    char *text;   /* as written */
    char *source; /* "default", "toy defaults", "run.ini:3", "--set" */
    int64_t i;
    double d;
    int b;
    double *list; /* MTL_OPT_DOUBLE_LIST */
    size_t n_list;
} host_value;

typedef struct host_section {
    const char *name;  /* "train" */
    const char *owner; /* who declared the keys: "mtlhost" or the plugin's name */
    const mtl_option *options;
    size_t n_options;
    host_value *values; /* n_options, in declaration order */
} host_section;

typedef struct host_config {
    host_section sec[HOST_N_SECTIONS];
} host_config;

/* The host's own keys. */
const mtl_option *host_train_options(size_t *n);
const mtl_option *host_output_options(size_t *n);

/*
 * Checks a plugin's option declarations: keys [a-z0-9_]+ and unique, known
 * types, enum choices given, and a default that passes its own validation.
 */
mtl_status host_options_check(const mtl_option *options, size_t n);

/* Starts from the declared defaults of all four sections. */
mtl_status host_config_init(host_config *cfg, const char *method_name,
                            const mtl_option *method_options, size_t n_method,
                            const char *task_name, const mtl_option *task_options, size_t n_task);
void host_config_deinit(host_config *cfg);

/* Sets [section] key = value after validating it; `source` names its origin. */
mtl_status host_config_set(host_config *cfg, const char *section, const char *key,
                           const char *value, const char *source);

/* Sets from "section.key=value" (--set, and the task's defaults). */
mtl_status host_config_assign(host_config *cfg, const char *assignment, const char *source);

/* Applies a NULL-terminated list of a task's defaults ("train.lr=1e-3"). */
mtl_status host_config_apply_defaults(host_config *cfg, const char *const *defaults,
                                      const char *source);

/* Applies an INI file; errors name the file and line. */
mtl_status host_config_load_ini(host_config *cfg, const char *path);

/* The resolved configuration as INI text that host_config_load_ini accepts. */
mtl_status host_config_format(const host_config *cfg, const char *header, host_buf *out);

/*
 * Looks a key up: "section.key", or a bare key of section `own` (pass -1 for
 * none).  `requester` names who asked, for messages.  Fails with
 * MTL_ERR_CONFIG for an undeclared key or a getter of the wrong type.
 */
mtl_status host_config_int(const host_config *cfg, int own, const char *requester, const char *key,
                           int64_t *out);
mtl_status host_config_double(const host_config *cfg, int own, const char *requester,
                              const char *key, double *out);
mtl_status host_config_bool(const host_config *cfg, int own, const char *requester, const char *key,
                            int *out);
mtl_status host_config_string(const host_config *cfg, int own, const char *requester,
                              const char *key, const char **out);
mtl_status host_config_doubles(const host_config *cfg, int own, const char *requester,
                               const char *key, const double **values, size_t *n);

/*
 * The configuration as a JSON object of sections of typed values:
 * {"train":{"epochs":100,...},"method":{...},"task":{...},"output":{...}}.
 */
mtl_status host_config_json(const host_config *cfg, host_buf *out);

/*
 * What makes two runs the same training: "section.key = value" lines of
 * [train], [method] and [task] (not [output]), as checkpoints record it.
 */
void host_config_fingerprint(const host_config *cfg, host_buf *out);

/* Writes the help lines of a list of options (for --help). */
void host_options_help(const mtl_option *options, size_t n, host_buf *out);

#endif /* MTL_HOST_CONFIG_H */
