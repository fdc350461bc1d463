/*
 * mtlhost: loads a method and a task plugin, resolves the configuration,
 * trains, and writes the run directory.  The only file that exits: every
 * failure comes back here as a status with its message and is printed as
 * one line "mtlhost: <message>".
 *
 * Exit status: 0 success; 1 the run failed; 2 usage, configuration or
 * plugin loading (everything before the first training step); 128 + N
 * stopped by signal N (SIGINT, SIGTERM): during training, after the batch
 * in progress; after training, with the results complete (a second signal
 * ends the process at once).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "figure.h"
#include "proc.h"
#include "loader.h"
#include "log.h"
#include "paths.h"
#include "progress.h"
#include "run.h"
#include "services.h"
#include "train.h"
#include "wandb.h"

enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

/* Seconds the wandb bridge gets to finish (upload) after the run. */
#define WANDB_TIMEOUT 120.0

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
    int lock_fd;     /* the run directory, flock()ed (host_run_lock) from setup on; -1 before */
    int default_dir; /* run_dir is the default name, created by open_run */
    host_ckpt ckpt;  /* --resume: the checkpoint to continue from */
    int have_ckpt;
    char method_path[4096], task_path[4096]; /* --resume: from config.ini */
    char wandb_id[16];
    host_run_info info; /* run.json's content, rewritten when the run ends */
} host_app;

static int fail(int code)
{
    const char *msg = mtl_error_message();

    host_progress_clear();
    fputs("mtlhost: ", stderr);
    host_put_shown(stderr, *msg ? msg : "unknown error");
    fputc('\n', stderr);
    return code;
}

static int print_buf(host_buf *b)
{
    mtl_status st = host_buf_status(b, "output");

    if (st == MTL_OK)
        host_put_shown_lines(stdout, host_buf_str(b));
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

/* ---- --resume ---------------------------------------------------------- */

static mtl_status resume_refuses(const char *what)
{
    return mtl_error_set(MTL_ERR_INVALID,
                         "usage: --resume continues a run with its own configuration: %s is not "
                         "allowed with it (expected only output options: --quiet, --tensorboard, "
                         "--wandb-project, --wandb-entity, --set output.KEY=VALUE)",
                         what);
}

static mtl_status check_resume_args(const host_cli *cli)
{
    char what[256];

    if (cli->method)
        return resume_refuses("--method");
    if (cli->task)
        return resume_refuses("--task");
    if (cli->config)
        return resume_refuses("--config");
    for (size_t i = 0; i < cli->n_sets; i++) {
        const char *text = cli->sets[i].text;
        if (strncmp(text, "output.", 7) == 0 && strncmp(text, "output.dir=", 11) != 0)
            continue;
        if (strcmp(cli->sets[i].source, "--set") == 0)
            snprintf(what, sizeof what, "--set %s", text);
        else
            snprintf(what, sizeof what, "%s", cli->sets[i].source);
        return resume_refuses(what);
    }
    return MTL_OK;
}

/* The value of the header comment line "# <label>: VALUE" of config.ini. */
static int header_value(const char *text, const char *label, char *out, size_t cap)
{
    size_t n = strlen(label);

    for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "# ", 2) == 0 && strncmp(line + 2, label, n) == 0 &&
            strncmp(line + 2 + n, ": ", 2) == 0 && len - 4 - n < cap) {
            memcpy(out, line + 4 + n, len - 4 - n);
            out[len - 4 - n] = '\0';
            return 1;
        }
    }
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    host_buf b = {0};
    char chunk[4096];
    size_t n;

    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        host_buf_append(&b, chunk, n);
    fclose(f);
    if (b.failed) {
        host_buf_free(&b);
        return NULL;
    }
    return b.data ? b.data : host_strdup("");
}

/* The plugins' paths from RUN_DIR/config.ini, and the wandb id from run.json. */
static mtl_status read_run_dir(host_app *app, char *config, size_t cap)
{
    const char *dir = app->cli.resume;
    char *text, *json, path[4200];
    int ok;

    snprintf(config, cap, "%s/config.ini", dir);
    text = read_text(config);
    if (!text)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "resume: not a run directory: %s (expected %s written by mtlhost)",
                             dir, config);
    ok = header_value(text, "method plugin", app->method_path, sizeof app->method_path) &&
         header_value(text, "task plugin", app->task_path, sizeof app->task_path);
    free(text);
    if (!ok)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "resume: %s does not name its plugins (expected the header lines "
                             "'# method plugin: PATH' and '# task plugin: PATH')",
                             config);
    snprintf(path, sizeof path, "%s/run.json", dir);
    json = read_text(path);
    if (json) {
        const char *at = strstr(json, "\"wandb_id\":\"");
        if (at && sscanf(at + 12, "%15[a-z0-9]", app->wandb_id) != 1)
            app->wandb_id[0] = '\0';
        free(json);
    }
    return MTL_OK;
}

/* Reads and checks the checkpoint; a run killed before its first one starts again. */
static mtl_status open_checkpoint(host_app *app)
{
    char path[4200], where[128];
    host_train_ctx ctx = {&app->task, &app->method, &app->env, app->run, NULL};
    mtl_status st;

    snprintf(path, sizeof path, "%s/%s", app->run_dir, HOST_CKPT_FILE);
    st = host_ckpt_read(&app->ckpt, path);
    if (st == MTL_ERR_IO && errno == ENOENT) {
        host_say("mtlhost: resume: %s has no checkpoint yet; the run starts again from its "
                 "beginning",
                 app->run_dir);
        return MTL_OK;
    }
    if (st != MTL_OK)
        return st;
    app->have_ckpt = 1;
    if ((st = host_train_check_checkpoint(&ctx, &app->ckpt)) != MTL_OK)
        return st;
    host_train_checkpoint_position(&app->ckpt, where, sizeof where);
    host_say("mtlhost: resume: %s from its checkpoint (%s)", app->run_dir, where);
    return MTL_OK;
}

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
    if (app->cli.resume)
        return host_config_set(&app->cfg, "output", "dir", app->cli.resume, "--resume");
    return MTL_OK;
}

/* A path the kernel takes whole: shorter than PATH_MAX, each component at most NAME_MAX. */
static mtl_status check_path_length(const char *dir)
{
    char shown[256];
    size_t n = strlen(dir), longest = 0;

    if (n >= PATH_MAX)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "output: path too long: --out %s (expected at most %d characters, "
                             "got %zu)",
                             host_path_short(dir, shown, sizeof shown), PATH_MAX - 1, n);
    for (const char *p = dir; *p;) {
        size_t c = strcspn(p, "/");
        longest = c > longest ? c : longest;
        p += c + (p[c] == '/');
    }
    if (longest > NAME_MAX)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "output: path too long: --out %s (expected folder names of at most "
                             "%d characters, got %zu)",
                             host_path_short(dir, shown, sizeof shown), NAME_MAX, longest);
    return MTL_OK;
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;

    if (!d)
        return 0;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/*
 * A new run needs a new or empty folder (old files would mix with its own), and every
 * existing folder above it must be a folder: refused before anything is written.
 */
static mtl_status check_new_run_dir(const char *dir)
{
    char shown[256], shown_up[256], up[PATH_MAX], why[128];
    struct stat sb;
    mtl_status st = check_path_length(dir);

    if (st != MTL_OK)
        return st;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return mtl_error_set(MTL_ERR_CONFIG,
                                 "output: --out is not a folder: %s (expected a new or empty "
                                 "folder, got %s)",
                                 host_path_short(dir, shown, sizeof shown),
                                 host_file_kind(sb.st_mode));
        if (!dir_is_empty(dir)) {
            host_buf word = {0};
            host_buf_shell_word(&word, dir); /* whole: the command must work when pasted */
            st = mtl_error_set(MTL_ERR_CONFIG,
                               "output: run directory not empty: %s (expected a new or empty "
                               "folder; choose another --out, or continue it with mtlhost "
                               "--resume %s)",
                               host_path_short(dir, shown, sizeof shown), host_buf_str(&word));
            host_buf_free(&word);
            return st;
        }
        return MTL_OK;
    }
    if (errno != ENOENT && errno != ENOTDIR)
        return mtl_error_set(MTL_ERR_CONFIG, "output: cannot use --out %s: %s",
                             host_path_short(dir, shown, sizeof shown),
                             host_strerror(errno, why, sizeof why));
    /* The nearest existing folder above it, which mkdir -p would create under. */
    snprintf(up, sizeof up, "%s", dir);
    for (char *slash = strrchr(up, '/'); slash; slash = strrchr(up, '/')) {
        *slash = '\0';
        if (!*up)
            break;
        if (stat(up, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode))
                return mtl_error_set(MTL_ERR_CONFIG,
                                     "output: cannot create --out %s: %s is not a folder "
                                     "(expected a folder, got %s)",
                                     host_path_short(dir, shown, sizeof shown),
                                     host_path_short(up, shown_up, sizeof shown_up),
                                     host_file_kind(sb.st_mode));
            break;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return mtl_error_set(MTL_ERR_CONFIG, "output: cannot create --out %s: %s: %s",
                                 host_path_short(dir, shown, sizeof shown),
                                 host_path_short(up, shown_up, sizeof shown_up),
                                 host_strerror(errno, why, sizeof why));
    }
    return MTL_OK;
}

static mtl_status choose_run_dir(host_app *app)
{
    const char *dir;
    int verbose, quiet;
    mtl_status st;

    if ((st = host_config_string(&app->cfg, -1, "mtlhost", "output.dir", &dir)) != MTL_OK ||
        (st = host_config_bool(&app->cfg, -1, "mtlhost", "output.verbose", &verbose)) != MTL_OK ||
        (st = host_config_bool(&app->cfg, -1, "mtlhost", "output.quiet", &quiet)) != MTL_OK ||
        (st = host_config_int(&app->cfg, -1, "mtlhost", "train.seed", &app->seed)) != MTL_OK)
        return st;
    host_log_set_verbose(verbose);
    host_log_set_quiet(quiet);
    if (*dir && !app->cli.resume && (st = check_new_run_dir(dir)) != MTL_OK)
        return st;
    if (*dir) {
        snprintf(app->run_dir, sizeof app->run_dir, "%s", dir);
        return MTL_OK;
    }
    /* named now, created once the data are loaded (open_run) */
    host_run_default_dir(app->task_so.name, app->method_so.name, app->run_dir, sizeof app->run_dir);
    app->default_dir = 1;
    return MTL_OK;
}

static mtl_status open_run(host_app *app)
{
    const mtl_task_info *ti = &app->task.info;
    host_run_layout layout = {app->task_so.name, app->method_so.name, ti->n_tasks,
                              ti->task_names,    ti->n_metrics,       ti->metrics};
    mtl_status st;

    if (app->default_dir && (st = host_run_claim_dir(app->run_dir, sizeof app->run_dir)) != MTL_OK)
        return st;
    if ((st = host_run_create(&app->run, app->run_dir, &layout)) != MTL_OK)
        return st;
    if (app->lock_fd < 0 && (st = host_run_lock(app->run_dir, &app->lock_fd)) != MTL_OK)
        return st;
    /* Under the lock: a run that used the folder while this one loaded its data is seen. */
    return app->cli.resume ? MTL_OK : check_new_run_dir(app->run_dir);
}

/* With --resume: the plugins and config.ini of the run directory. */
static mtl_status prepare_resume(host_app *app, char *config, size_t cap)
{
    mtl_status st;

    if ((st = check_resume_args(&app->cli)) != MTL_OK ||
        (st = read_run_dir(app, config, cap)) != MTL_OK ||
        (st = host_run_lock(app->cli.resume, &app->lock_fd)) != MTL_OK)
        return st;
    app->cli.method = app->method_path;
    app->cli.task = app->task_path;
    app->cli.config = config;
    return MTL_OK;
}

/* Whether the task marks any shared parameter MTL_PARAM_LAST_SHARED. */
static int task_has_last_shared(const mtl_task_info *ti)
{
    for (size_t i = 0; ti->model && i < mtl_model_n_params(ti->model); i++) {
        mtl_param_info info;
        if (mtl_param_get_info(mtl_model_param_at(ti->model, i), &info) == MTL_OK &&
            info.role == MTL_ROLE_SHARED && (info.flags & MTL_PARAM_LAST_SHARED))
            return 1;
    }
    return 0;
}

/*
 * A method that asks for the gradients of the last shared layer of a task that marks
 * none fails at its first step, after the run directory exists.  A throwaway instance's
 * first plan() tells before anything is written (the trial's own instance keeps its state
 * untouched).  The representation ('rep') is only known from forward: the engine
 * checks it at the first step.
 */
static mtl_status check_grad_source(host_app *app)
{
    host_method_slot probe;
    mtl_method_plan plan = {0};
    mtl_status st =
        host_method_open(&probe, app->method_so.method, &app->env, 0, app->task.info.n_tasks);

    if (st != MTL_OK)
        return st;
    st = probe.plugin->plan(probe.self, 0, &plan);
    host_method_close(&probe);
    if (st != MTL_OK)
        return MTL_OK; /* the engine reports a failing plan with its step */
    if (plan.need == MTL_NEED_GRAM && plan.source == MTL_GRADS_LAST &&
        !task_has_last_shared(&app->task.info))
        return mtl_error_set(
            MTL_ERR_CONFIG,
            "config: method %s asks for the gradients of the last shared layer "
            "('last'), which task %s does not mark (expected a task with "
            "MTL_PARAM_LAST_SHARED parameters, or the method set to another gradient source)",
            app->method_so.name, app->task_so.name);
    return MTL_OK;
}

/* The absolute path of a loaded plugin, for config.ini and run.json. */
static void absolute(const char *path, char *out, size_t cap)
{
    char *real = realpath(path, NULL);

    snprintf(out, cap, "%s", real ? real : path);
    free(real);
}

static mtl_status setup(host_app *app)
{
    static char resume_config[4200];
    mtl_status st;

    if (app->cli.resume &&
        (st = prepare_resume(app, resume_config, sizeof resume_config)) != MTL_OK)
        return st;
    if ((st = require_plugins(&app->cli)) != MTL_OK ||
        /* config.ini records the --config path (the loader checks the plugins') */
        (app->cli.config && (st = host_refuse_control(MTL_ERR_CONFIG, "usage: --config: the path",
                                                      app->cli.config)) != MTL_OK) ||
        (st = host_plugin_load(&app->method_so, &app->paths, MTL_PLUGIN_METHOD, app->cli.method)) !=
            MTL_OK ||
        (st = host_plugin_load(&app->task_so, &app->paths, MTL_PLUGIN_TASK, app->cli.task)) !=
            MTL_OK)
        return st;
    absolute(app->method_so.path, app->method_path, sizeof app->method_path);
    absolute(app->task_so.path, app->task_path, sizeof app->task_path);
    if ((st = resolve_config(app)) != MTL_OK || (st = choose_run_dir(app)) != MTL_OK)
        return st;
    app->env = (host_env){&app->cfg, (uint64_t)app->seed, app->run_dir, app->paths.data_dir};
    if ((st = host_task_open(&app->task, app->task_so.task, &app->env)) != MTL_OK ||
        (st = host_method_open(&app->method, app->method_so.method, &app->env, 0,
                               app->task.info.n_tasks)) != MTL_OK ||
        (st = check_grad_source(app)) != MTL_OK || (st = open_run(app)) != MTL_OK)
        return st;
    if (app->cli.resume)
        return open_checkpoint(app);
    return MTL_OK;
}

/* ---- the run: everything that exits with status 1 --------------------- */

static mtl_status write_config(host_app *app)
{
    host_buf header = {0}, text = {0};
    mtl_status st;

    host_buf_printf(&header,
                    "# The resolved configuration of this run (mtlhost %s, ABI %d.%d).\n"
                    "# method %s (%s), task %s (%s)\n"
                    "# method plugin: %s\n"
                    "# task plugin: %s\n"
                    "# Run it again with: mtlhost --method %s --task %s --config config.ini\n"
                    "# Continue it after an interruption with: mtlhost --resume RUN_DIR\n",
                    MTL_VERSION_STRING, MTL_ABI_MAJOR, MTL_ABI_MINOR, app->method_so.name,
                    app->method_so.path, app->task_so.name, app->task_so.path, app->method_path,
                    app->task_path, app->method_so.name, app->task_so.name);
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

static const char *output_string(const host_app *app, const char *key)
{
    const char *v = "";

    host_config_string(&app->cfg, -1, "mtlhost", key, &v);
    return v;
}

static int output_flag(const host_app *app, const char *key)
{
    int v = 0;

    host_config_bool(&app->cfg, -1, "mtlhost", key, &v);
    return v;
}

static void start_wandb(host_app *app)
{
    const char *project = output_string(app, "output.wandb_project");
    const char *slash = strrchr(app->run_dir, '/');
    host_buf config = {0}, tags = {0}, sections = {0};
    host_wandb_config wc;

    if (!*project)
        return;
    if (!app->wandb_id[0])
        host_wandb_new_id(app->wandb_id);
    /* {"train":{...},...} with the plugins' names in front: {"mtl":{...},"train":{...},...} */
    host_config_json(&app->cfg, &sections);
    host_buf_printf(&config, "{\"mtl\":{\"method\":\"%s\",\"task\":\"%s\",\"seed\":%lld},%s",
                    app->method_so.name, app->task_so.name, (long long)app->seed,
                    host_buf_str(&sections) + 1);
    host_buf_free(&sections);
    host_buf_printf(&tags, "[\"%s\",\"%s\"]", app->method_so.name, app->task_so.name);
    if (config.failed || tags.failed) {
        host_buf_free(&config);
        host_buf_free(&tags);
        return;
    }
    wc = (host_wandb_config){app->paths.tools_dir,
                             app->run_dir,
                             project,
                             output_string(app, "output.wandb_entity"),
                             slash ? slash + 1 : app->run_dir,
                             app->wandb_id,
                             app->have_ckpt,
                             host_buf_str(&tags),
                             host_buf_str(&config)};
    host_run_set_wandb(app->run, host_wandb_start(&wc));
    if (!host_run_wandb(app->run))
        app->wandb_id[0] = '\0';
    host_buf_free(&config);
    host_buf_free(&tags);
}

static void start_progress(const host_app *app)
{
    const char *mode = output_string(app, "output.progress");
    double seconds = 30;
    host_progress_mode m = HOST_PROGRESS_OFF;

    host_config_double(&app->cfg, -1, "mtlhost", "output.progress_seconds", &seconds);
    if (strcmp(mode, "auto") == 0)
        m = host_progress_auto();
    else if (strcmp(mode, "bar") == 0)
        m = HOST_PROGRESS_BAR;
    else if (strcmp(mode, "lines") == 0)
        m = HOST_PROGRESS_LINES;
    if (host_log_quiet())
        m = HOST_PROGRESS_OFF;
    host_progress_start(m, seconds);
}

/* What the run writes besides the metrics: config.ini, run.json, tracking. */
static mtl_status start_outputs(host_app *app)
{
    mtl_status st;

    if (app->cli.resume)
        host_run_remove_tmp(app->run);
    else if ((st = write_config(app)) != MTL_OK)
        return st;
    if (output_flag(app, "output.tensorboard") &&
        (st = host_run_enable_tensorboard(app->run)) != MTL_OK)
        return st;
    start_wandb(app);
    app->info = (host_run_info){app->method_path, app->task_path, app->seed,
                                app->wandb_id,    "running",      NULL};
    if ((st = host_run_write_info(app->run, &app->info)) != MTL_OK)
        return st;
    start_progress(app);
    return MTL_OK;
}

static void on_stop_signal(int sig)
{
    host_train_stop_signal = sig;
}

/* SIGINT and SIGTERM stop training after the batch in progress; a second one takes effect. */
static void catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static mtl_status train_and_report(host_app *app)
{
    host_train_ctx ctx = {&app->task, &app->method, &app->env, app->run,
                          app->have_ckpt ? &app->ckpt : NULL};
    host_buf about = {0};
    mtl_status st;

    host_say("mtlhost: method %s, task %s, seed %lld, run directory %s", app->method_so.name,
             app->task_so.name, (long long)app->seed, app->run_dir);
    catch_stop_signals();
    if ((st = start_outputs(app)) != MTL_OK)
        return st;
    st = host_train(&ctx);
    if (st != MTL_OK) {
        /* Keeps the epochs done so far; the failure itself is what main reports. */
        mtl_status failure = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mtl_error_message());
        host_run_flush(app->run);
        app->info.status = failure == MTL_ERR_INTERRUPTED ? "interrupted" : "failed";
        app->info.error = msg;
        host_run_write_info(app->run, &app->info);
        app->info.error = NULL;
        host_wandb_finish(host_run_wandb(app->run), 1, WANDB_TIMEOUT);
        host_run_set_wandb(app->run, NULL);
        mtl_error_set(failure, "%s", msg);
        return failure;
    }
    describe_run(app, &about);
    st = host_buf_status(&about, "results");
    if (st == MTL_OK)
        st = host_run_finish(app->run, host_buf_str(&about));
    host_buf_free(&about);
    if (st == MTL_OK) {
        app->info.status = "finished";
        st = host_run_write_info(app->run, &app->info);
    }
    host_wandb_finish(host_run_wandb(app->run), st == MTL_OK ? 0 : 1, WANDB_TIMEOUT);
    host_run_set_wandb(app->run, NULL);
    return st;
}

/* 1 when the figures were drawn (or are off), 0 otherwise. */
static int draw_figure(const host_app *app)
{
    if (!output_flag(app, "output.figures"))
        return 1;
    return host_figure_draw(app->paths.tools_dir, app->task.info.figure_tool, app->run_dir);
}

/*
 * A stop signal that came after training: the results are complete (run.json
 * says "finished"), the figures not drawn if it came before them, and the
 * exit status says the process was stopped, as the shell expects of it.
 */
static int finished_then_stopped(const host_app *app, int drawn)
{
    const char *name = host_train_stop_signal == SIGINT ? "SIGINT" : "SIGTERM";

    if (!host_train_stop_signal)
        return 0;
    if (drawn)
        mtl_error_set(MTL_ERR_INTERRUPTED,
                      "stopped by %s after training ended; the results are complete", name);
    else {
        host_buf cmd = {0};
        host_figure_command(&cmd, host_find_python("matplotlib"), app->paths.tools_dir,
                            app->task.info.figure_tool, app->run_dir);
        mtl_error_set(MTL_ERR_INTERRUPTED,
                      "stopped by %s after training ended; the results are complete, the "
                      "figures not drawn (to draw them: %s)",
                      name, host_buf_str(&cmd));
        host_buf_free(&cmd);
    }
    return fail(128 + host_train_stop_signal);
}

static void cleanup(host_app *app)
{
    host_ckpt_free(&app->ckpt);
    host_method_close(&app->method);
    host_task_close(&app->task);
    host_run_destroy(app->run);
    if (app->lock_fd >= 0)
        close(app->lock_fd); /* releases the run directory */
    if (app->cfg_ready)
        host_config_deinit(&app->cfg);
    host_plugin_unload(&app->method_so);
    host_plugin_unload(&app->task_so);
    host_paths_deinit(&app->paths);
    host_cli_deinit(&app->cli);
}

static int run(host_app *app)
{
    int drawn;

    if (setup(app) != MTL_OK)
        return fail(EXIT_USAGE);
    if (train_and_report(app) != MTL_OK)
        return fail(app->info.status && strcmp(app->info.status, "interrupted") == 0
                        ? 128 + host_train_stop_signal
                        : EXIT_RUN_FAILED);
    /* a signal before the figures: none drawn (output.figures = false: none due) */
    drawn = host_train_stop_signal ? !output_flag(app, "output.figures") : draw_figure(app);
    host_summary("mtlhost: done: %s/results.md", app->run_dir);
    return finished_then_stopped(app, drawn);
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

    app.lock_fd = -1;
    /* A tracking bridge that exits must not take the run with it: writes then fail with EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (host_cli_parse(&app.cli, argc, argv) != MTL_OK) {
        code = fail(EXIT_USAGE);
        host_cli_deinit(&app.cli);
        return code;
    }
    code = dispatch(&app);
    cleanup(&app);
    return code;
}
