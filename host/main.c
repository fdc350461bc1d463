/*
 * mtlhost: loads a method and a task plugin, resolves the configuration,
 * trains, and writes the run directory.  The only file that exits: every
 * failure comes back here as a status with its message and is printed as
 * one line "mtlhost: <message>".
 *
 * Exit status: 0 success; 1 the run failed; 2 usage, configuration or
 * plugin loading (everything before the first training step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "figure.h"
#include "loader.h"
#include "log.h"
#include "paths.h"
#include "run.h"
#include "services.h"
#include "train.h"

enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

typedef struct host_app {
    host_cli cli;
    host_paths paths;
    host_plugin method_so, task_so;
    host_config cfg;
    int cfg_ready;
    char run_dir[4096];
    int64_t seed;
    host_env env;
    host_task_slot task;
    host_method_slot method;
    host_run *run;
} host_app;

static int fail(int code)
{
    const char *msg = mtl_error_message();

    fprintf(stderr, "mtlhost: %s\n", *msg ? msg : "unknown error");
    return code;
}

static int print_buf(host_buf *b)
{
    mtl_status st = host_buf_status(b, "output");

    if (st == MTL_OK)
        fputs(host_buf_str(b), stdout);
    host_buf_free(b);
    return st == MTL_OK ? 0 : fail(EXIT_RUN_FAILED);
}

static int show_help(void)
{
    host_buf b = {0};

    host_cli_help(&b);
    return print_buf(&b);
}

static int show_lists(const host_app *app)
{
    host_buf b = {0};

    if (app->cli.list_methods)
        host_plugin_list(&app->paths, MTL_PLUGIN_METHOD, &b);
    if (app->cli.list_methods && app->cli.list_tasks)
        host_buf_printf(&b, "\n");
    if (app->cli.list_tasks)
        host_plugin_list(&app->paths, MTL_PLUGIN_TASK, &b);
    return print_buf(&b);
}

/* ---- setup: everything that exits with status 2 ------------------------ */

static mtl_status require_plugins(const host_cli *cli)
{
    const char *missing = !cli->method ? "--method" : !cli->task ? "--task" : NULL;

    if (!missing)
        return MTL_OK;
    return mtl_error_set(MTL_ERR_INVALID,
                         "usage: missing %s (expected --method NAME|PATH and --task NAME|PATH; "
                         "see mtlhost --help)",
                         missing);
}

static mtl_status resolve_config(host_app *app)
{
    const mtl_method_plugin *m = app->method_so.method;
    const mtl_task_plugin *t = app->task_so.task;
    char source[256];
    mtl_status st;

    st = host_config_init(&app->cfg, m->name, m->options, m->n_options, t->name, t->options,
                          t->n_options);
    if (st != MTL_OK)
        return st;
    app->cfg_ready = 1;
    snprintf(source, sizeof source, "%s defaults", t->name);
    if ((st = host_config_apply_defaults(&app->cfg, t->defaults, source)) != MTL_OK)
        return st;
    if (app->cli.config && (st = host_config_load_ini(&app->cfg, app->cli.config)) != MTL_OK)
        return st;
    for (size_t i = 0; i < app->cli.n_sets; i++)
        if ((st = host_config_assign(&app->cfg, app->cli.sets[i].text, app->cli.sets[i].source)) !=
            MTL_OK)
            return st;
    return MTL_OK;
}

static mtl_status choose_run_dir(host_app *app)
{
    const char *dir;
    int verbose;
    mtl_status st;

    if ((st = host_config_string(&app->cfg, -1, "mtlhost", "output.dir", &dir)) != MTL_OK ||
        (st = host_config_bool(&app->cfg, -1, "mtlhost", "output.verbose", &verbose)) != MTL_OK ||
        (st = host_config_int(&app->cfg, -1, "mtlhost", "train.seed", &app->seed)) != MTL_OK)
        return st;
    host_log_set_verbose(verbose);
    if (*dir)
        snprintf(app->run_dir, sizeof app->run_dir, "%s", dir);
    else
        host_run_default_dir(app->task_so.name, app->method_so.name, app->run_dir,
                             sizeof app->run_dir);
    return MTL_OK;
}

static mtl_status open_run(host_app *app)
{
    const mtl_task_info *ti = &app->task.info;
    host_run_layout layout = {app->task_so.name, app->method_so.name, ti->n_tasks,
                              ti->task_names,    ti->n_metrics,       ti->metrics};

    return host_run_create(&app->run, app->run_dir, &layout);
}

static mtl_status setup(host_app *app)
{
    mtl_status st;

    if ((st = require_plugins(&app->cli)) != MTL_OK ||
        (st = host_plugin_load(&app->method_so, &app->paths, MTL_PLUGIN_METHOD, app->cli.method)) !=
            MTL_OK ||
        (st = host_plugin_load(&app->task_so, &app->paths, MTL_PLUGIN_TASK, app->cli.task)) !=
            MTL_OK ||
        (st = resolve_config(app)) != MTL_OK || (st = choose_run_dir(app)) != MTL_OK)
        return st;
    app->env = (host_env){&app->cfg, (uint64_t)app->seed, app->run_dir, app->paths.data_dir};
    if ((st = host_task_open(&app->task, app->task_so.task, &app->env)) != MTL_OK ||
        (st = host_method_open(&app->method, app->method_so.method, &app->env, 0,
                               app->task.info.n_tasks)) != MTL_OK)
        return st;
    return open_run(app);
}

/* ---- the run: everything that exits with status 1 --------------------- */

static mtl_status write_config(host_app *app)
{
    host_buf header = {0}, text = {0};
    mtl_status st;

    host_buf_printf(&header,
                    "# The resolved configuration of this run (mtlhost %s, ABI %d.%d).\n"
                    "# method %s (%s), task %s (%s)\n"
                    "# Run it again with: mtlhost --method %s --task %s --config config.ini\n",
                    MTL_VERSION_STRING, MTL_ABI_MAJOR, MTL_ABI_MINOR, app->method_so.name,
                    app->method_so.path, app->task_so.name, app->task_so.path, app->method_so.name,
                    app->task_so.name);
    st = host_config_format(&app->cfg, host_buf_str(&header), &text);
    if (st == MTL_OK)
        st = host_run_write(app->run, "config.ini", host_buf_str(&text), text.len);
    host_buf_free(&header);
    host_buf_free(&text);
    return st;
}

static void describe_run(const host_app *app, host_buf *b)
{
    const mtl_method_info *mi = &app->method.info;
    int n_trials = app->task.info.n_trials > 0 ? app->task.info.n_trials : 1;
    int64_t epochs = 0;

    host_config_int(&app->cfg, -1, "mtlhost", "train.epochs", &epochs);
    host_buf_printf(b, "Seed %lld; %d trial%s of %lld epoch%s. ", (long long)app->seed, n_trials,
                    n_trials > 1 ? "s" : "", (long long)epochs, epochs > 1 ? "s" : "");
    if (mi->single_task)
        host_buf_printf(b,
                        "Model selection: the epoch with the best validation Delta_m of the main "
                        "task '%s' (single-task method); ",
                        app->task.info.task_names[mi->main_task]);
    else
        host_buf_printf(b, "Model selection: the epoch with the best validation Delta_m; ");
    host_buf_printf(b, "the last epoch when the task gives no validation score.");
}

static mtl_status train_and_report(host_app *app)
{
    host_train_ctx ctx = {&app->task, &app->method, &app->env, app->run};
    host_buf about = {0};
    mtl_status st;

    host_say("mtlhost: method %s, task %s, seed %lld, run directory %s", app->method_so.name,
             app->task_so.name, (long long)app->seed, app->run_dir);
    if ((st = write_config(app)) != MTL_OK)
        return st;
    st = host_train(&ctx);
    if (st != MTL_OK) {
        /* Keeps the epochs done so far; the failure itself is what main reports. */
        mtl_status failure = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mtl_error_message());
        host_run_flush(app->run);
        mtl_error_set(failure, "%s", msg);
        return failure;
    }
    describe_run(app, &about);
    st = host_buf_status(&about, "results");
    if (st == MTL_OK)
        st = host_run_finish(app->run, host_buf_str(&about));
    host_buf_free(&about);
    return st;
}

static void draw_figure(const host_app *app)
{
    const char *tool = app->task.info.figure_tool;
    int figures = 0;

    host_config_bool(&app->cfg, -1, "mtlhost", "output.figures", &figures);
    if (tool && figures)
        host_figure_draw(app->paths.tools_dir, tool, app->run_dir);
}

static void cleanup(host_app *app)
{
    host_method_close(&app->method);
    host_task_close(&app->task);
    host_run_destroy(app->run);
    if (app->cfg_ready)
        host_config_deinit(&app->cfg);
    host_plugin_unload(&app->method_so);
    host_plugin_unload(&app->task_so);
    host_paths_deinit(&app->paths);
    host_cli_deinit(&app->cli);
}

static int run(host_app *app)
{
    if (setup(app) != MTL_OK)
        return fail(EXIT_USAGE);
    if (train_and_report(app) != MTL_OK)
        return fail(EXIT_RUN_FAILED);
    draw_figure(app);
    host_say("mtlhost: done: %s/results.md", app->run_dir);
    return 0;
}

static int dispatch(host_app *app)
{
    if (app->cli.help)
        return show_help();
    if (app->cli.version) {
        printf("mtlhost %s (ABI %d.%d)\n", MTL_VERSION_STRING, MTL_ABI_MAJOR, MTL_ABI_MINOR);
        return 0;
    }
    if (host_paths_init(&app->paths) != MTL_OK)
        return fail(EXIT_USAGE);
    if (app->cli.list_methods || app->cli.list_tasks)
        return show_lists(app);
    return run(app);
}

int main(int argc, char **argv)
{
    static host_app app;
    int code;

    if (host_cli_parse(&app.cli, argc, argv) != MTL_OK) {
        code = fail(EXIT_USAGE);
        host_cli_deinit(&app.cli);
        return code;
    }
    code = dispatch(&app);
    cleanup(&app);
    return code;
}
