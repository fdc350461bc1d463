/* The command line of mtlhost (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mtl/version.h"

typedef enum opt_id {
    OPT_METHOD,
    OPT_TASK,
    OPT_CONFIG,
    OPT_SET,
    OPT_SEED,
    OPT_OUT,
    OPT_RESUME,
    OPT_QUIET,
    OPT_TENSORBOARD,
    OPT_WANDB_PROJECT,
    OPT_WANDB_ENTITY,
    OPT_LIST_METHODS,
    OPT_LIST_TASKS,
    OPT_HELP,
    OPT_VERSION,
    N_OPTS
} opt_id;

static const struct {
    const char *name;
    const char *arg; /* NULL for a flag */
    const char *help;
} opts[N_OPTS] = {
    [OPT_METHOD] = {"--method", "NAME|PATH", "the weighting method plugin (required for a run)"},
    [OPT_TASK] = {"--task", "NAME|PATH", "the task plugin (required for a run)"},
    [OPT_CONFIG] = {"--config", "FILE.ini", "an INI file of [train], [method], [task], [output]"},
    [OPT_SET] = {"--set", "section.key=value", "override one key (repeatable; wins over --config)"},
    [OPT_SEED] = {"--seed", "N", "same as --set train.seed=N"},
    [OPT_OUT] = {"--out", "DIR", "same as --set output.dir=DIR"},
    [OPT_RESUME] = {"--resume", "RUN_DIR",
                    "continue an interrupted run from its checkpoint, with its config.ini"},
    [OPT_QUIET] = {"--quiet", NULL, "print only errors and the final summary"},
    [OPT_TENSORBOARD] = {"--tensorboard", NULL,
                         "write TensorBoard events into RUN_DIR/tensorboard"},
    [OPT_WANDB_PROJECT] = {"--wandb-project", "NAME", "track the run in this W&B project"},
    [OPT_WANDB_ENTITY] = {"--wandb-entity", "NAME", "the W&B entity (user or team)"},
    [OPT_LIST_METHODS] = {"--list-methods", NULL, "list the method plugins found, then exit"},
    [OPT_LIST_TASKS] = {"--list-tasks", NULL, "list the task plugins found, then exit"},
    [OPT_HELP] = {"--help", NULL, "show this help, then exit"},
    [OPT_VERSION] = {"--version", NULL, "show the release and ABI versions, then exit"},
};

static int find_opt(const char *arg, size_t len)
{
    for (int i = 0; i < N_OPTS; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0)
            return i;
    if (len == 2 && strncmp(arg, "-h", 2) == 0)
        return OPT_HELP;
    return -1;
}

static mtl_status unknown_option(const char *arg, size_t len)
{
    const char *names[N_OPTS];
    char word[128];
    const char *near;

    for (int i = 0; i < N_OPTS; i++)
        names[i] = opts[i].name;
    snprintf(word, sizeof word, "%.*s", (int)(len < 127 ? len : 127), arg);
    near = host_nearest(word, names, N_OPTS);
    if (near)
        return mtl_error_set(MTL_ERR_INVALID,
                             "usage: unknown option: %s (expected an option of mtlhost --help; "
                             "did you mean '%s'?)",
                             word, near);
    return mtl_error_set(MTL_ERR_INVALID,
                         "usage: unknown option: %s (expected an option of mtlhost --help)", word);
}

static mtl_status add_set(host_cli *cli, const char *prefix, const char *value, const char *source)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    host_assignment *grown = realloc(cli->sets, (cli->n_sets + 1) * sizeof *grown);
    char *text = malloc(n);

    if (grown)
        cli->sets = grown;
    if (!grown || !text) {
        free(text);
        return mtl_error_set(MTL_ERR_NOMEM, "usage: out of memory");
    }
    snprintf(text, n, "%s%s", prefix, value);
    cli->sets[cli->n_sets++] = (host_assignment){text, source};
    return MTL_OK;
}

static mtl_status set_once(const char **slot, const char *name, const char *value)
{
    if (*slot)
        return mtl_error_set(MTL_ERR_INVALID,
                             "usage: %s given twice (expected once, got '%s' and '%s')", name,
                             *slot, value);
    *slot = value;
    return MTL_OK;
}

static mtl_status apply_opt(host_cli *cli, int id, const char *value)
{
    switch (id) {
    case OPT_METHOD:
        return set_once(&cli->method, "--method", value);
    case OPT_TASK:
        return set_once(&cli->task, "--task", value);
    case OPT_CONFIG:
        return set_once(&cli->config, "--config", value);
    case OPT_SET:
        return add_set(cli, "", value, "--set");
    case OPT_SEED:
        return add_set(cli, "train.seed=", value, "--seed");
    case OPT_OUT:
        return add_set(cli, "output.dir=", value, "--out");
    case OPT_RESUME:
        return set_once(&cli->resume, "--resume", value);
    case OPT_QUIET:
        return add_set(cli, "output.quiet=", "true", "--quiet");
    case OPT_TENSORBOARD:
        return add_set(cli, "output.tensorboard=", "true", "--tensorboard");
    case OPT_WANDB_PROJECT:
        return add_set(cli, "output.wandb_project=", value, "--wandb-project");
    case OPT_WANDB_ENTITY:
        return add_set(cli, "output.wandb_entity=", value, "--wandb-entity");
    case OPT_LIST_METHODS:
        cli->list_methods = 1;
        return MTL_OK;
    case OPT_LIST_TASKS:
        cli->list_tasks = 1;
        return MTL_OK;
    case OPT_HELP:
        cli->help = 1;
        return MTL_OK;
    default:
        cli->version = 1;
        return MTL_OK;
    }
}

/* Names of plugins, files and folders cannot be empty. */
static mtl_status apply_value(host_cli *cli, int id, const char *value)
{
    int named =
        id == OPT_METHOD || id == OPT_TASK || id == OPT_CONFIG || id == OPT_OUT || id == OPT_RESUME;

    if (named && !*value)
        return mtl_error_set(MTL_ERR_INVALID, "usage: %s: empty %s (expected %s %s, got '')",
                             opts[id].name,
                             id == OPT_METHOD || id == OPT_TASK ? "plugin name" : "path",
                             opts[id].name, opts[id].arg);
    return apply_opt(cli, id, value);
}

/* One option at argv[*i], with its value from "=value" or the next argument. */
static mtl_status parse_one(host_cli *cli, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int id;

    if (arg[0] != '-')
        return mtl_error_set(MTL_ERR_INVALID,
                             "usage: unexpected argument: %s (expected options only; see "
                             "mtlhost --help)",
                             arg);
    id = find_opt(arg, len);
    if (id < 0)
        return unknown_option(arg, len);
    if (!opts[id].arg) {
        if (eq)
            return mtl_error_set(MTL_ERR_INVALID,
                                 "usage: %s takes no value (expected %s, got '%s')", opts[id].name,
                                 opts[id].name, arg);
        return apply_opt(cli, id, NULL);
    }
    if (eq)
        return apply_value(cli, id, eq + 1);
    if (*i + 1 >= argc)
        return mtl_error_set(MTL_ERR_INVALID, "usage: missing value: %s (expected %s %s)",
                             opts[id].name, opts[id].name, opts[id].arg);
    /* "--method --task toy" forgot the value; a value that starts with "--" takes "=". */
    if (strncmp(argv[*i + 1], "--", 2) == 0)
        return mtl_error_set(MTL_ERR_INVALID,
                             "usage: %s needs a value (expected %s %s, got option '%s'; write "
                             "%s=VALUE for a value starting with '--')",
                             opts[id].name, opts[id].name, opts[id].arg, argv[*i + 1],
                             opts[id].name);
    *i += 1;
    return apply_value(cli, id, argv[*i]);
}

mtl_status host_cli_parse(host_cli *cli, int argc, char **argv)
{
    memset(cli, 0, sizeof *cli);
    for (int i = 1; i < argc; i++) {
        mtl_status st = parse_one(cli, argc, argv, &i);
        if (st != MTL_OK)
            return st;
    }
    return MTL_OK;
}

void host_cli_deinit(host_cli *cli)
{
    for (size_t i = 0; i < cli->n_sets; i++)
        free(cli->sets[i].text);
    free(cli->sets);
    memset(cli, 0, sizeof *cli);
}

void host_cli_help(host_buf *out)
{
    size_t n_train, n_output;
    const mtl_option *train = host_train_options(&n_train);
    const mtl_option *output = host_output_options(&n_output);

    host_buf_printf(out, "usage: mtlhost --method NAME|PATH --task NAME|PATH [--config FILE.ini]\n"
                         "               [--set section.key=value]... [--seed N] [--out DIR]\n"
                         "               [--quiet] [--tensorboard] [--wandb-project NAME "
                         "[--wandb-entity NAME]]\n"
                         "       mtlhost --resume RUN_DIR [output options]\n"
                         "       mtlhost --list-methods | --list-tasks | --help | --version\n\n"
                         "Trains the task's model with the method's task weighting and writes the "
                         "run\ndirectory (config.ini, run.json, metrics.csv, metrics.jsonl, "
                         "results.md,\nresults.csv, checkpoint.mtlckpt, figures).\n\n"
                         "options:\n");
    for (int i = 0; i < N_OPTS; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        host_buf_printf(out, "  %-28s %s\n", head, opts[i].help);
    }
    host_buf_printf(out,
                    "\nA plugin NAME is searched as NAME.so in $MTL_PLUGIN_PATH (colon-separated), "
                    "then\n<dir of mtlhost>/plugins, then <dir of mtlhost>/../lib/mtl/plugins; an "
                    "argument\nwith '/' or ending in .so is a path.  Precedence of values: --set "
                    "over --config\nover the task's defaults over the declared defaults.  [method] "
                    "and [task] keys\nare the plugins' own (see their READMEs).\n\n"
                    "exit status: 0 success, 1 the run failed, 2 usage, configuration or plugin "
                    "error,\n130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM (training stops "
                    "after the batch in\nprogress; continue with --resume DIR)\n\n[train] "
                    "keys:\n");
    host_options_help(train, n_train, out);
    host_buf_printf(out, "\n[output] keys:\n");
    host_options_help(output, n_output, out);
}
