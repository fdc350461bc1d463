/*
 * host/cli.h - the command line of mtlhost.
 *
 *   mtlhost --method NAME|PATH --task NAME|PATH [--config FILE.ini]
 *           [--set section.key=value]... [--seed N] [--out DIR]
 *           [--quiet] [--tensorboard] [--wandb-project NAME [--wandb-entity NAME]]
 *   mtlhost --resume RUN_DIR [output options]
 *   mtlhost --list-methods | --list-tasks | --help | --version
 *
 * Options take their value as the next argument or after '='.  --seed N
 * and --out DIR are shorthands for --set train.seed=N and
 * --set output.dir=DIR, --quiet, --tensorboard, --wandb-project and
 * --wandb-entity for the output keys of the same names, all applied in
 * command-line order with the --set ones.
 */
#ifndef MTL_HOST_CLI_H
#define MTL_HOST_CLI_H

#include <stddef.h>

#include "mtl/status.h"
#include "text.h"

typedef struct host_assignment {
    char *text;         /* "section.key=value" */
    const char *source; /* "--set", "--seed", "--out" */
} host_assignment;

typedef struct host_cli {
    const char *method, *task, *config;
    const char *resume; /* the run directory of --resume, or NULL */
    host_assignment *sets;
    size_t n_sets;
    int list_methods, list_tasks, help, version;
} host_cli;

/* Errors are "usage: ..." messages with MTL_ERR_INVALID. */
mtl_status host_cli_parse(host_cli *cli, int argc, char **argv);
void host_cli_deinit(host_cli *cli);

/* The text of --help, with the host's own config keys. */
void host_cli_help(host_buf *out);

#endif /* MTL_HOST_CLI_H */
