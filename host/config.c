/* The run's configuration: declared keys, validated values (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the host's own keys --------------------------------------------- */

#define POSITIVE (MTL_OPT_HAS_MIN | MTL_OPT_MIN_EXCLUSIVE)

static const mtl_option train_options[] = {
    {"epochs", MTL_OPT_INT, "100", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "passes over the training split in each trial"},
    {"lr", MTL_OPT_DOUBLE, "1e-3", NULL, POSITIVE, 0, 0,
     "Adam learning rate of the model's parameters"},
    {"batch_size", MTL_OPT_INT, "32", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "examples per training step (the task reads it)"},
    {"weight_decay", MTL_OPT_DOUBLE, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "Adam's L2 weight decay of the model's parameters"},
    {"seed", MTL_OPT_INT, "42", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "seed of every random stream of the run (also --seed)"},
    {"max_bad_steps", MTL_OPT_INT, "20", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "consecutive skipped (non-finite) steps that stop the run"},
    {"eval_every", MTL_OPT_INT, "1", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "evaluate on validation and test every N epochs, and after the last"},
    {"scheduler", MTL_OPT_ENUM, "none", "none|plateau|step", 0, 0, 0,
     "learning-rate schedule, stepped after each epoch"},
    {"factor", MTL_OPT_DOUBLE, "0.7", NULL, POSITIVE | MTL_OPT_HAS_MAX, 0, 1,
     "plateau: lr multiplier when validation Delta_m (without validation, the method's "
     "training loss) stops improving"},
    {"patience", MTL_OPT_INT, "5", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "plateau: epochs without improvement before the lr is reduced"},
    {"min_lr", MTL_OPT_DOUBLE, "1e-5", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "plateau: lower bound of the lr"},
    {"step_size", MTL_OPT_INT, "100", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "step: epochs between two lr reductions"},
    {"gamma", MTL_OPT_DOUBLE, "0.1", NULL, POSITIVE, 0, 0,
     "step: lr multiplier every step_size epochs"},
};

static const mtl_option output_options[] = {
    {"dir", MTL_OPT_STRING, "", NULL, 0, 0, 0,
     "run directory (also --out); empty: runs/<task>-<method>-<YYYYmmdd-HHMMSS>"},
    {"figures", MTL_OPT_BOOL, "true", NULL, 0, 0, 0,
     "draw the task's figure after the run (python3 with matplotlib)"},
    {"verbose", MTL_OPT_BOOL, "false", NULL, 0, 0, 0, "show the plugins' debug lines"},
    {"quiet", MTL_OPT_BOOL, "false", NULL, 0, 0, 0,
     "print only errors and the final summary (also --quiet)"},
    {"progress", MTL_OPT_ENUM, "auto", "auto|bar|lines|none", 0, 0, 0,
     "progress: a bar on a terminal, plain lines otherwise (auto), or always one form"},
    {"progress_seconds", MTL_OPT_DOUBLE, "30", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "seconds between two plain progress lines"},
    {"checkpoint", MTL_OPT_BOOL, "true", NULL, 0, 0, 0,
     "keep RUN_DIR/checkpoint.mtlckpt for --resume (after every epoch)"},
    {"checkpoint_every", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "also checkpoint every N training steps; 0: at the end of epochs only"},
    {"log_every_steps", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "also log every N-th step's losses and weights (steps.csv, tracking); 0: never"},
    {"tensorboard", MTL_OPT_BOOL, "false", NULL, 0, 0, 0,
     "write TensorBoard event files into RUN_DIR/tensorboard (also --tensorboard)"},
    {"wandb_project", MTL_OPT_STRING, "", NULL, 0, 0, 0,
     "track the run in this Weights & Biases project (also --wandb-project); empty: no"},
    {"wandb_entity", MTL_OPT_STRING, "", NULL, 0, 0, 0,
     "the W&B entity (also --wandb-entity); empty: the account's default"},
};

const mtl_option *host_train_options(size_t *n)
{
    *n = sizeof train_options / sizeof train_options[0];
    return train_options;
}

const mtl_option *host_output_options(size_t *n)
{
    *n = sizeof output_options / sizeof output_options[0];
    return output_options;
}

/*
 * The longest line inih reads whole (Debian builds it with INI_MAX_LINE = 200, which holds
 * the line, '\r', '\n' and '\0'): every line of a config.ini, so every `key = value` the
 * host accepts, fits in it.
 */
#define INI_LINE_LIMIT (INI_MAX_LINE - 3)

static const char *const section_names[HOST_N_SECTIONS] = {"train", "method", "task", "output"};

/* ---- describing what a value must be ---------------------------------- */

static const char *type_noun(mtl_option_type type)
{
    switch (type) {
    case MTL_OPT_INT:
        return "an integer";
    case MTL_OPT_DOUBLE:
        return "a finite number";
    case MTL_OPT_BOOL:
        return "true/false, yes/no, on/off or 1/0";
    case MTL_OPT_STRING:
        return "text without ' ;', control characters or blanks at either end";
    case MTL_OPT_ENUM:
        return "one of";
    case MTL_OPT_DOUBLE_LIST:
        return "comma-separated numbers";
    }
    return "a known type";
}

static void describe_range(const mtl_option *o, host_buf *b)
{
    int has_min = (o->flags & MTL_OPT_HAS_MIN) != 0;
    int has_max = (o->flags & MTL_OPT_HAS_MAX) != 0;
    int excl = (o->flags & MTL_OPT_MIN_EXCLUSIVE) != 0;
    const char *each = o->type == MTL_OPT_DOUBLE_LIST ? ", each" : "";

    if (has_min && has_max)
        host_buf_printf(b, "%s in %c%.17g, %.17g]", each, excl ? '(' : '[', o->min, o->max);
    else if (has_min)
        host_buf_printf(b, "%s %s %.17g", each, excl ? ">" : ">=", o->min);
    else if (has_max)
        host_buf_printf(b, "%s <= %.17g", each, o->max);
}

/* "an integer >= 1", "one of none|plateau|step", ... */
static void describe(const mtl_option *o, host_buf *b)
{
    host_buf_printf(b, "%s", type_noun(o->type));
    if (o->type == MTL_OPT_ENUM)
        host_buf_printf(b, " %s", o->choices ? o->choices : "");
    if (o->type == MTL_OPT_INT || o->type == MTL_OPT_DOUBLE || o->type == MTL_OPT_DOUBLE_LIST)
        describe_range(o, b);
}

/* ---- parsing one value ------------------------------------------------ */

enum parse_result { PARSE_OK, PARSE_BAD, PARSE_RANGE, PARSE_NOMEM };

static int in_range(const mtl_option *o, double x)
{
    if (o->flags & MTL_OPT_HAS_MIN) {
        if ((o->flags & MTL_OPT_MIN_EXCLUSIVE) ? !(x > o->min) : !(x >= o->min))
            return 0;
    }
    if ((o->flags & MTL_OPT_HAS_MAX) && !(x <= o->max))
        return 0;
    return 1;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || isspace((unsigned char)*s))
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    double v;

    /* Decimal only, like parse_int: strtod would also take hex, "nan" and "infinity". */
    if (strspn(s, "+-0123456789.eE") != strlen(s))
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || isspace((unsigned char)*s))
        return 0;
    *out = v;
    return 1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 1;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

/* Nonzero when `s` is one of the '|'-separated `choices`. */
static int enum_has(const char *choices, const char *s)
{
    size_t len = strlen(s);
    const char *p = choices;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, s, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* The choice nearest to `s`, copied into buf, or NULL. */
static const char *enum_nearest(const char *choices, const char *s, char *buf, size_t cap)
{
    char copy[512];
    const char *items[32];
    size_t n = 0;
    const char *best;

    snprintf(copy, sizeof copy, "%s", choices ? choices : "");
    for (char *tok = strtok(copy, "|"); tok && n < 32; tok = strtok(NULL, "|"))
        items[n++] = tok;
    best = host_nearest(s, items, n);
    if (!best)
        return NULL;
    snprintf(buf, cap, "%s", best);
    return buf;
}

static enum parse_result parse_list(const mtl_option *o, const char *s, host_value *v)
{
    size_t cap = 1;
    const char *p = s;
    double *list;
    size_t n = 0;

    for (const char *q = s; *q; q++)
        cap += *q == ',';
    list = malloc(cap * sizeof *list);
    if (!list)
        return PARSE_NOMEM;
    while (*s && *p) {
        char item[128];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 0 || len >= sizeof item)
            goto bad;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!parse_double(item, &list[n]))
            goto bad;
        if (!in_range(o, list[n])) {
            free(list);
            return PARSE_RANGE;
        }
        n++;
        p = comma ? comma + 1 : p + len;
        if (comma && !*p)
            goto bad;
    }
    v->list = list;
    v->n_list = n;
    return PARSE_OK;
bad:
    free(list);
    return PARSE_BAD;
}

static enum parse_result parse_value(const mtl_option *o, const char *s, host_value *v)
{
    switch (o->type) {
    case MTL_OPT_INT:
        if (!parse_int(s, &v->i))
            return PARSE_BAD;
        return in_range(o, (double)v->i) ? PARSE_OK : PARSE_RANGE;
    case MTL_OPT_DOUBLE:
        if (!parse_double(s, &v->d))
            return PARSE_BAD;
        return in_range(o, v->d) ? PARSE_OK : PARSE_RANGE;
    case MTL_OPT_BOOL:
        return parse_bool(s, &v->b) ? PARSE_OK : PARSE_BAD;
    case MTL_OPT_STRING:
        /* Refused because an INI file could not give them back (config.ini). */
        return strstr(s, " ;") || strstr(s, "\t;") || host_control_at(s, strlen(s)) >= 0 ||
                       (*s &&
                        (isspace((unsigned char)s[0]) || isspace((unsigned char)s[strlen(s) - 1])))
                   ? PARSE_BAD
                   : PARSE_OK;
    case MTL_OPT_ENUM:
        return enum_has(o->choices, s) ? PARSE_OK : PARSE_BAD;
    case MTL_OPT_DOUBLE_LIST:
        return parse_list(o, s, v);
    }
    return PARSE_BAD;
}

/* ---- sections and keys ------------------------------------------------ */

static void value_free(host_value *v)
{
    free(v->text);
    free(v->source);
    free(v->list);
    memset(v, 0, sizeof *v);
}

static int section_index(const char *name)
{
    for (int i = 0; i < HOST_N_SECTIONS; i++)
        if (strcmp(section_names[i], name) == 0)
            return i;
    return -1;
}

static int key_index(const host_section *sec, const char *key)
{
    for (size_t i = 0; i < sec->n_options; i++)
        if (strcmp(sec->options[i].key, key) == 0)
            return (int)i;
    return -1;
}

static mtl_status unknown_section(const char *name, const char *source)
{
    const char *near = host_nearest(name, section_names, HOST_N_SECTIONS);
    char hint[64] = "";

    if (near)
        snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
    return mtl_error_set(MTL_ERR_CONFIG,
                         "config: unknown section: %s: [%s] (expected train, method, task or "
                         "output%s)",
                         source, name, hint);
}

/* "(expected a key of [train]; did you mean 'lr'?)" or the list of keys. */
static mtl_status unknown_key(const host_section *sec, const char *key, const char *source)
{
    const char *keys[256] = {0};
    size_t n = sec->n_options < 256 ? sec->n_options : 256;
    const char *near;
    host_buf expected = {0};
    mtl_status st;

    for (size_t i = 0; i < n; i++)
        keys[i] = sec->options[i].key;
    near = host_nearest(key, keys, n);
    if (n == 0)
        host_buf_printf(&expected, "no keys: %s declares none", sec->owner);
    else if (near)
        host_buf_printf(&expected, "a key of [%s]; did you mean '%s'?", sec->name, near);
    else
        for (size_t i = 0; i < n; i++)
            host_buf_printf(&expected, "%s%s", i ? ", " : "one of: ", keys[i]);
    st = mtl_error_set(MTL_ERR_CONFIG, "config: unknown key: %s: %s.%s (expected %s)", source,
                       sec->name, key, host_buf_str(&expected));
    host_buf_free(&expected);
    return st;
}

static mtl_status bad_value(const host_section *sec, const mtl_option *o, const char *value,
                            const char *source, enum parse_result why)
{
    host_buf expected = {0};
    char near_buf[128];
    const char *near = NULL;
    mtl_status st;

    describe(o, &expected);
    if (o->type == MTL_OPT_ENUM)
        near = enum_nearest(o->choices, value, near_buf, sizeof near_buf);
    st = mtl_error_set(MTL_ERR_CONFIG, "config: %s: %s: %s.%s (expected %s, got '%s'%s%s%s)",
                       why == PARSE_RANGE ? "value out of range" : "bad value", source, sec->name,
                       o->key, host_buf_str(&expected), value, near ? "; did you mean '" : "",
                       near ? near : "", near ? "'?" : "");
    host_buf_free(&expected);
    return st;
}

static mtl_status value_assign(host_value *v, const char *text, const char *source,
                               const host_value *parsed)
{
    char *t = host_strdup(text);
    char *s = host_strdup(source);

    if (!t || !s) {
        free(t);
        free(s);
        return mtl_error_set(MTL_ERR_NOMEM, "config: out of memory: storing a value");
    }
    value_free(v);
    *v = *parsed;
    v->text = t;
    v->source = s;
    return MTL_OK;
}

/* The longest value whose `key = value` line config.ini can give back through inih. */
static size_t value_max(const char *key)
{
    size_t used = strlen(key) + 3;

    return used < INI_LINE_LIMIT ? INI_LINE_LIMIT - used : 0;
}

static mtl_status section_set(host_section *sec, const char *key, const char *value,
                              const char *source)
{
    int k = key_index(sec, key);
    host_value parsed = {0};
    enum parse_result r;

    if (k < 0)
        return unknown_key(sec, key, source);
    if (strlen(value) > value_max(key))
        return mtl_error_set(MTL_ERR_CONFIG,
                             "config: value too long: %s: %s.%s (expected at most %zu characters, "
                             "got %zu)",
                             source, sec->name, key, value_max(key), strlen(value));
    r = parse_value(&sec->options[k], value, &parsed);
    if (r == PARSE_NOMEM)
        return mtl_error_set(MTL_ERR_NOMEM, "config: out of memory: parsing %s.%s", sec->name, key);
    if (r != PARSE_OK)
        return bad_value(sec, &sec->options[k], value, source, r);
    return value_assign(&sec->values[k], value, source, &parsed);
}

mtl_status host_config_set(host_config *cfg, const char *section, const char *key,
                           const char *value, const char *source)
{
    int s = section_index(section);

    if (s < 0)
        return unknown_section(section, source);
    if (!*key)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "config: empty key: %s: [%s] (expected key = value, got '= %s')",
                             source, section, value);
    return section_set(&cfg->sec[s], key, value, source);
}

/* ---- declarations ----------------------------------------------------- */

static int key_valid(const char *key)
{
    if (!key || !*key)
        return 0;
    for (const char *p = key; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
            return 0;
    return 1;
}

static mtl_status check_default(const mtl_option *o)
{
    host_value v = {0};
    host_buf expected = {0};
    enum parse_result r = parse_value(o, o->default_value, &v);
    mtl_status st = MTL_OK;

    free(v.list);
    if (strlen(o->default_value) > value_max(o->key))
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "option '%s': default too long (expected at most %zu characters "
                             "for config.ini, got %zu)",
                             o->key, value_max(o->key), strlen(o->default_value));
    if (r == PARSE_BAD || r == PARSE_RANGE) {
        describe(o, &expected);
        st = mtl_error_set(MTL_ERR_PLUGIN, "option '%s': bad default (expected %s, got '%s')",
                           o->key, host_buf_str(&expected), o->default_value);
    }
    host_buf_free(&expected);
    return st;
}

static mtl_status check_one(const mtl_option *options, size_t i)
{
    const mtl_option *o = &options[i];

    if (!key_valid(o->key))
        return mtl_error_set(MTL_ERR_PLUGIN, "option %zu: bad key '%s' (expected [a-z0-9_]+)", i,
                             o->key ? o->key : "(null)");
    if (strlen(o->key) + 4 > INI_LINE_LIMIT)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "option %zu: key too long (expected at most %d characters, got %zu)",
                             i, INI_LINE_LIMIT - 4, strlen(o->key));
    for (size_t j = 0; j < i; j++)
        if (strcmp(options[j].key, o->key) == 0)
            return mtl_error_set(MTL_ERR_PLUGIN,
                                 "option '%s' declared twice (expected unique keys)", o->key);
    if ((unsigned)o->type > MTL_OPT_DOUBLE_LIST)
        return mtl_error_set(MTL_ERR_PLUGIN, "option '%s': unknown type (expected 0..5, got %d)",
                             o->key, (int)o->type);
    if (o->type == MTL_OPT_ENUM && (!o->choices || !*o->choices))
        return mtl_error_set(MTL_ERR_PLUGIN, "option '%s': enum without choices", o->key);
    if (!o->default_value)
        return mtl_error_set(MTL_ERR_PLUGIN, "option '%s': no default value", o->key);
    return check_default(o);
}

mtl_status host_options_check(const mtl_option *options, size_t n)
{
    if (n && !options)
        return mtl_error_set(MTL_ERR_PLUGIN, "options: NULL table (expected %zu entries)", n);
    for (size_t i = 0; i < n; i++) {
        mtl_status st = check_one(options, i);
        if (st != MTL_OK)
            return st;
    }
    return MTL_OK;
}

/* ---- the whole configuration ------------------------------------------ */

static mtl_status section_init(host_section *sec, int id, const char *owner,
                               const mtl_option *options, size_t n)
{
    sec->name = section_names[id];
    sec->owner = owner;
    sec->options = options;
    sec->n_options = n;
    sec->values = calloc(n ? n : 1, sizeof *sec->values);
    if (!sec->values)
        return mtl_error_set(MTL_ERR_NOMEM, "config: out of memory: section [%s]", sec->name);
    for (size_t i = 0; i < n; i++) {
        mtl_status st = section_set(sec, options[i].key, options[i].default_value, "default");
        if (st != MTL_OK)
            return st;
    }
    return MTL_OK;
}

mtl_status host_config_init(host_config *cfg, const char *method_name,
                            const mtl_option *method_options, size_t n_method,
                            const char *task_name, const mtl_option *task_options, size_t n_task)
{
    size_t n_train, n_output;
    const mtl_option *train = host_train_options(&n_train);
    const mtl_option *output = host_output_options(&n_output);
    mtl_status st;

    memset(cfg, 0, sizeof *cfg);
    st = section_init(&cfg->sec[HOST_SEC_TRAIN], HOST_SEC_TRAIN, "mtlhost", train, n_train);
    if (st == MTL_OK)
        st = section_init(&cfg->sec[HOST_SEC_METHOD], HOST_SEC_METHOD, method_name, method_options,
                          n_method);
    if (st == MTL_OK)
        st = section_init(&cfg->sec[HOST_SEC_TASK], HOST_SEC_TASK, task_name, task_options, n_task);
    if (st == MTL_OK)
        st = section_init(&cfg->sec[HOST_SEC_OUTPUT], HOST_SEC_OUTPUT, "mtlhost", output, n_output);
    if (st != MTL_OK)
        host_config_deinit(cfg);
    return st;
}

void host_config_deinit(host_config *cfg)
{
    for (int s = 0; s < HOST_N_SECTIONS; s++) {
        host_section *sec = &cfg->sec[s];
        for (size_t i = 0; sec->values && i < sec->n_options; i++)
            value_free(&sec->values[i]);
        free(sec->values);
    }
    memset(cfg, 0, sizeof *cfg);
}

/* Splits "section.key=value"; returns 0 when it has another form. */
static int split_assignment(const char *a, char *section, char *key, size_t cap, const char **value)
{
    const char *dot = strchr(a, '.');
    const char *eq = strchr(a, '=');

    if (!dot || !eq || dot > eq || dot == a || eq == dot + 1)
        return 0;
    if ((size_t)(dot - a) >= cap || (size_t)(eq - dot - 1) >= cap)
        return 0;
    memcpy(section, a, (size_t)(dot - a));
    section[dot - a] = '\0';
    memcpy(key, dot + 1, (size_t)(eq - dot - 1));
    key[eq - dot - 1] = '\0';
    *value = eq + 1;
    return 1;
}

mtl_status host_config_assign(host_config *cfg, const char *assignment, const char *source)
{
    char section[128], key[128];
    const char *value;

    if (!split_assignment(assignment, section, key, sizeof section, &value))
        return mtl_error_set(MTL_ERR_CONFIG,
                             "config: bad assignment: %s: '%s' (expected section.key=value)",
                             source, assignment);
    return host_config_set(cfg, section, key, value, source);
}

mtl_status host_config_apply_defaults(host_config *cfg, const char *const *defaults,
                                      const char *source)
{
    for (size_t i = 0; defaults && defaults[i]; i++) {
        mtl_status st = host_config_assign(cfg, defaults[i], source);
        if (st != MTL_OK)
            return st;
    }
    return MTL_OK;
}

/* ---- INI files -------------------------------------------------------- */

/*
 * inih parses the file through ini_reader_fn, which reads it line by line: it counts lines
 * (inih's handler is not told the line), keeps the raw line for messages, refuses a
 * control byte (a NUL would cut the value short where inih reads it) and a line longer than
 * inih's buffer (inih would cut it and read the rest as a line of its own),
 * checks section names and the form of each line where they are written, stops at the first
 * error, and strips leading blanks so that an indented line is never taken for a
 * continuation of the previous value.
 */
typedef struct ini_state {
    host_config *cfg;
    const char *path;
    FILE *file;
    char *line; /* the raw current line */
    size_t line_cap;
    int lineno;
    int error_line; /* first error of ours, 0 when none */
    mtl_status error;
    int seen_line[HOST_N_SECTIONS][256]; /* where each key was set in this file */
    size_t bytes;                        /* read so far */
    char shown[256];                     /* the path as messages show it */
} ini_state;

static mtl_status too_big(const char *path, unsigned long long size)
{
    return mtl_error_set(MTL_ERR_CONFIG,
                         "config: file too large: %s (expected at most %d bytes, got %llu)", path,
                         HOST_INI_MAX_BYTES, size);
}

/*
 * Opens a configuration file that must be a regular file of at most
 * HOST_INI_MAX_BYTES: a FIFO would block, a device never end, a directory read as empty.
 * O_NONBLOCK keeps open() of a FIFO without a writer from blocking before fstat says what it is.
 */
static mtl_status ini_open(const char *path, const char *shown, FILE **file)
{
    char why[256];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return mtl_error_set(MTL_ERR_CONFIG, "config: cannot open file: %s: %s", shown,
                             host_strerror(errno, why, sizeof why));
    if (fstat(fd, &sb) != 0) {
        mtl_status st = mtl_error_set(MTL_ERR_CONFIG, "config: cannot open file: %s: %s", shown,
                                      host_strerror(errno, why, sizeof why));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        const char *kind = host_file_kind(sb.st_mode);
        close(fd);
        return mtl_error_set(MTL_ERR_CONFIG,
                             "config: not a regular file: %s (expected an INI file, got %s)", shown,
                             kind);
    }
    if (sb.st_size > HOST_INI_MAX_BYTES) {
        close(fd);
        return too_big(shown, (unsigned long long)sb.st_size);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *file = fdopen(fd, "r");
    if (!*file) {
        close(fd);
        return mtl_error_set(MTL_ERR_CONFIG, "config: cannot open file: %s: %s", shown,
                             host_strerror(errno, why, sizeof why));
    }
    return MTL_OK;
}

static void ini_fail(ini_state *s, mtl_status st)
{
    if (!s->error_line) {
        s->error_line = s->lineno;
        s->error = st;
    }
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static void ini_check_section(ini_state *s, const char *line)
{
    char name[256];
    const char *close = strchr(line, ']');
    char source[1100];
    size_t n;

    if (line[0] != '[' || !close)
        return;
    n = (size_t)(close - line - 1);
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, line + 1, n);
    name[n] = '\0';
    if (section_index(trim(name)) >= 0)
        return;
    snprintf(source, sizeof source, "%s:%d", s->path, s->lineno);
    ini_fail(s, unknown_section(trim(name), source));
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    ini_state *s = user;
    char source[1100];
    int sec, key;
    mtl_status st;

    if (s->error_line)
        return 1;
    snprintf(source, sizeof source, "%s:%d", s->path, s->lineno);
    if (!*section) {
        ini_fail(s, mtl_error_set(MTL_ERR_CONFIG,
                                  "config: key outside a section: %s: %s (expected a [section] "
                                  "line before it)",
                                  source, name));
        return 1;
    }
    sec = section_index(section);
    if (sec < 0)
        return 1; /* reported by the reader at the section's line */
    key = key_index(&s->cfg->sec[sec], name);
    if (key >= 0 && key < 256 && s->seen_line[sec][key]) {
        ini_fail(s, mtl_error_set(MTL_ERR_CONFIG,
                                  "config: duplicate key: %s: %s.%s (expected once per file, "
                                  "first set at line %d)",
                                  source, section, name, s->seen_line[sec][key]));
        return 1;
    }
    st = host_config_set(s->cfg, section, name, value, source);
    if (st != MTL_OK)
        ini_fail(s, st);
    else if (key < 256)
        s->seen_line[sec][key] = s->lineno;
    return 1;
}

/* '[section]', 'key = value' ('key: value'), a comment or a blank line: what inih accepts. */
static int ini_line_form_ok(const char *text)
{
    if (!*text || *text == ';' || *text == '#')
        return 1;
    if (*text == '[')
        return strchr(text, ']') != NULL;
    return strpbrk(text, "=:") != NULL;
}

static mtl_status ini_syntax_error(const ini_state *s, int lineno, const char *text)
{
    char copy[INI_LINE_LIMIT + 1];

    snprintf(copy, sizeof copy, "%s", text);
    return mtl_error_set(MTL_ERR_CONFIG,
                         "config: cannot parse line: %s:%d (expected 'key = value', '[section]' "
                         "or a comment, got '%s')",
                         s->path, lineno, trim(copy));
}

static char *ini_reader_fn(char *str, int num, void *stream)
{
    ini_state *s = stream;
    ssize_t got;
    size_t len;
    long bad;
    char *text;

    /* Stop at the first error: its message must stay the current one. */
    if (s->error_line)
        return NULL;
    got = getline(&s->line, &s->line_cap, s->file);
    if (got < 0)
        return NULL;
    s->lineno++;
    s->bytes += (size_t)got;
    if (s->bytes > HOST_INI_MAX_BYTES) {
        /* The file grew after it was checked. */
        ini_fail(s, too_big(s->path, s->bytes));
        return NULL;
    }
    len = (size_t)got;
    while (len && (s->line[len - 1] == '\n' || s->line[len - 1] == '\r'))
        s->line[--len] = '\0';
    if (len > INI_LINE_LIMIT || len + 3 > (size_t)num) {
        char source[1100];
        snprintf(source, sizeof source, "%s:%d", s->path, s->lineno);
        ini_fail(s, mtl_error_set(MTL_ERR_CONFIG,
                                  "config: line too long: %s (expected at most %d characters, "
                                  "got %zu)",
                                  source, INI_LINE_LIMIT, len));
        return NULL;
    }
    if ((bad = host_control_at(s->line, len)) >= 0) {
        char source[1100], what[64];
        snprintf(source, sizeof source, "%s:%d", s->path, s->lineno);
        ini_fail(s, mtl_error_set(MTL_ERR_CONFIG,
                                  "config: bad byte in line: %s (expected text or tabs, got %s at "
                                  "column %ld)",
                                  source, host_control_name(s->line + bad, what, sizeof what),
                                  bad + 1));
        return NULL;
    }
    text = s->line;
    if (s->lineno == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0)
        text += 3;
    while (*text == ' ' || *text == '\t')
        text++;
    if (!ini_line_form_ok(text)) {
        ini_fail(s, ini_syntax_error(s, s->lineno, text));
        return NULL;
    }
    ini_check_section(s, text);
    if (s->error_line)
        return NULL;
    snprintf(str, (size_t)num, "%s", text);
    return str;
}

/* The raw text of line `lineno`, for a syntax error inih found that the reader let through. */
static void ini_syntax_error_at(ini_state *s, int lineno)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    const char *text = "";

    rewind(s->file);
    while (getline(&line, &cap, s->file) >= 0)
        if (++n == lineno) {
            text = line;
            break;
        }
    s->error_line = lineno;
    s->error = ini_syntax_error(s, lineno, text);
    free(line);
}

mtl_status host_config_load_ini(host_config *cfg, const char *path)
{
    ini_state *s = calloc(1, sizeof *s);
    mtl_status st = MTL_OK;
    int rc;

    if (!s)
        return mtl_error_set(MTL_ERR_NOMEM, "config: out of memory: reading %s", path);
    s->cfg = cfg;
    s->path = host_path_short(path, s->shown, sizeof s->shown);
    st = ini_open(path, s->path, &s->file);
    if (st != MTL_OK) {
        free(s);
        return st;
    }
    rc = ini_parse_stream(ini_reader_fn, s, ini_handler_fn, s);
    if (rc > 0 && (!s->error_line || rc < s->error_line))
        ini_syntax_error_at(s, rc);
    if (s->error_line)
        st = s->error; /* its message is still the current one: later lines were not checked */
    else if (rc < 0)
        st = mtl_error_set(MTL_ERR_NOMEM, "config: out of memory: reading %s", s->path);
    else if (ferror(s->file))
        st = mtl_error_set(MTL_ERR_CONFIG, "config: cannot read file: %s", s->path);
    fclose(s->file);
    free(s->line);
    free(s);
    return st;
}

/* ---- writing it back -------------------------------------------------- */

/*
 * One line of config.ini; a comment longer than inih's line goes on over further comment
 * lines, so that the file reads back.  It is cut at its last blank that fits (the blank
 * dropped), or where there is none in the line's second half, between UTF-8 characters.
 */
static void put_line(host_buf *out, const char *line, size_t len)
{
    const char *prefix = "";
    size_t room = INI_LINE_LIMIT;
    int comment = len && *line == '#';

    while (comment && len > room) {
        size_t n = room, skip = 0;
        while (n > room / 2 && line[n] != ' ')
            n--;
        if (line[n] == ' ') {
            skip = 1;
        } else {
            n = room;
            while (n > 1 && ((unsigned char)line[n] & 0xC0) == 0x80)
                n--;
        }
        host_buf_printf(out, "%s%.*s\n", prefix, (int)n, line);
        line += n + skip;
        len -= n + skip;
        prefix = "# ";
        room = INI_LINE_LIMIT - 2;
    }
    host_buf_printf(out, "%s%.*s\n", prefix, (int)len, line);
}

static void put_text(host_buf *out, const char *text)
{
    while (*text) {
        size_t len = strcspn(text, "\n");
        put_line(out, text, len);
        text += len + (text[len] == '\n');
    }
}

static void format_option(const mtl_option *o, const host_value *v, host_buf *out)
{
    host_buf comment = {0};

    host_buf_printf(&comment, "# %s (", o->help ? o->help : "");
    describe(o, &comment);
    host_buf_printf(&comment, "; default '%s'", o->default_value);
    if (strcmp(v->source, "default") != 0)
        host_buf_printf(&comment, "; set by %s", v->source);
    host_buf_printf(&comment, ")");
    if (comment.failed)
        out->failed = 1; /* host_config_format reports it */
    else
        put_text(out, host_buf_str(&comment));
    host_buf_free(&comment);
    host_buf_printf(out, "%s = %s\n", o->key, v->text);
}

mtl_status host_config_format(const host_config *cfg, const char *header, host_buf *out)
{
    if (header)
        put_text(out, header);
    for (int s = 0; s < HOST_N_SECTIONS; s++) {
        const host_section *sec = &cfg->sec[s];
        host_buf_printf(out, "\n[%s]\n", sec->name);
        if (sec->n_options == 0)
            host_buf_printf(out, "# %s declares no keys\n", sec->owner);
        for (size_t i = 0; i < sec->n_options; i++)
            format_option(&sec->options[i], &sec->values[i], out);
    }
    return host_buf_status(out, "formatting the configuration");
}

void host_options_help(const mtl_option *options, size_t n, host_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const mtl_option *o = &options[i];
        host_buf_printf(out, "  %-14s %s\n  %-14s (", o->key, o->help ? o->help : "", "");
        describe(o, out);
        host_buf_printf(out, "; default '%s')\n", o->default_value);
    }
}

/* ---- getters ---------------------------------------------------------- */

static const char *getter_of(mtl_option_type type)
{
    switch (type) {
    case MTL_OPT_INT:
        return "config_int";
    case MTL_OPT_DOUBLE:
        return "config_double";
    case MTL_OPT_BOOL:
        return "config_bool";
    case MTL_OPT_STRING:
    case MTL_OPT_ENUM:
        return "config_string";
    case MTL_OPT_DOUBLE_LIST:
        return "config_doubles";
    }
    return "?";
}

/* Finds a key for a getter of `getter`'s kind; NULL with the reason set. */
static const host_value *lookup(const host_config *cfg, int own, const char *requester,
                                const char *key, const char *getter, const mtl_option **decl)
{
    char section[128];
    const char *dot = strchr(key, '.');
    const host_section *sec;
    int s = own, k;

    if (dot) {
        size_t n = (size_t)(dot - key);
        snprintf(section, sizeof section, "%.*s", (int)(n < 127 ? n : 127), key);
        s = section_index(section);
        key = dot + 1;
    }
    if (s < 0 || s >= HOST_N_SECTIONS) {
        mtl_error_set(MTL_ERR_CONFIG,
                      "config: unknown key: asked by %s: %s (expected section.key with a "
                      "section of train, method, task or output)",
                      requester, dot ? section : key);
        return NULL;
    }
    sec = &cfg->sec[s];
    k = key_index(sec, key);
    if (k < 0) {
        char source[160];
        snprintf(source, sizeof source, "asked by %s", requester);
        unknown_key(sec, key, source);
        return NULL;
    }
    *decl = &sec->options[k];
    if (strcmp(getter_of((*decl)->type), getter) != 0) {
        mtl_error_set(MTL_ERR_CONFIG,
                      "config: wrong getter: asked by %s: %s.%s (expected %s, got %s)", requester,
                      sec->name, key, getter_of((*decl)->type), getter);
        return NULL;
    }
    return &sec->values[k];
}

mtl_status host_config_int(const host_config *cfg, int own, const char *requester, const char *key,
                           int64_t *out)
{
    const mtl_option *decl;
    const host_value *v = lookup(cfg, own, requester, key, "config_int", &decl);

    if (!v)
        return MTL_ERR_CONFIG;
    *out = v->i;
    return MTL_OK;
}

mtl_status host_config_double(const host_config *cfg, int own, const char *requester,
                              const char *key, double *out)
{
    const mtl_option *decl;
    const host_value *v = lookup(cfg, own, requester, key, "config_double", &decl);

    if (!v)
        return MTL_ERR_CONFIG;
    *out = v->d;
    return MTL_OK;
}

mtl_status host_config_bool(const host_config *cfg, int own, const char *requester, const char *key,
                            int *out)
{
    const mtl_option *decl;
    const host_value *v = lookup(cfg, own, requester, key, "config_bool", &decl);

    if (!v)
        return MTL_ERR_CONFIG;
    *out = v->b;
    return MTL_OK;
}

mtl_status host_config_string(const host_config *cfg, int own, const char *requester,
                              const char *key, const char **out)
{
    const mtl_option *decl;
    const host_value *v = lookup(cfg, own, requester, key, "config_string", &decl);

    if (!v)
        return MTL_ERR_CONFIG;
    *out = v->text;
    return MTL_OK;
}

mtl_status host_config_doubles(const host_config *cfg, int own, const char *requester,
                               const char *key, const double **values, size_t *n)
{
    const mtl_option *decl;
    const host_value *v = lookup(cfg, own, requester, key, "config_doubles", &decl);

    if (!v)
        return MTL_ERR_CONFIG;
    *values = v->list;
    *n = v->n_list;
    return MTL_OK;
}

/* ---- the configuration as data ---------------------------------------- */

static void json_value(const mtl_option *o, const host_value *v, host_buf *b)
{
    switch (o->type) {
    case MTL_OPT_INT:
        host_buf_printf(b, "%lld", (long long)v->i);
        return;
    case MTL_OPT_DOUBLE:
        host_buf_printf(b, "%.17g", v->d);
        return;
    case MTL_OPT_BOOL:
        host_buf_printf(b, "%s", v->b ? "true" : "false");
        return;
    case MTL_OPT_DOUBLE_LIST:
        host_buf_printf(b, "[");
        for (size_t i = 0; i < v->n_list; i++)
            host_buf_printf(b, "%s%.17g", i ? "," : "", v->list[i]);
        host_buf_printf(b, "]");
        return;
    default:
        host_buf_json_string(b, v->text);
    }
}

mtl_status host_config_json(const host_config *cfg, host_buf *out)
{
    host_buf_printf(out, "{");
    for (int s = 0; s < HOST_N_SECTIONS; s++) {
        const host_section *sec = &cfg->sec[s];
        host_buf_printf(out, "%s\"%s\":{", s ? "," : "", sec->name);
        for (size_t i = 0; i < sec->n_options; i++) {
            host_buf_printf(out, "%s\"%s\":", i ? "," : "", sec->options[i].key);
            json_value(&sec->options[i], &sec->values[i], out);
        }
        host_buf_printf(out, "}");
    }
    host_buf_printf(out, "}");
    return host_buf_status(out, "the configuration as JSON");
}

void host_config_fingerprint(const host_config *cfg, host_buf *out)
{
    static const int sections[] = {HOST_SEC_TRAIN, HOST_SEC_METHOD, HOST_SEC_TASK};

    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        const host_section *sec = &cfg->sec[sections[s]];
        for (size_t i = 0; i < sec->n_options; i++)
            host_buf_printf(out, "%s.%s = %s\n", sec->name, sec->options[i].key,
                            sec->values[i].text);
    }
}
