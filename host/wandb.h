/*
 * host/wandb.h - experiment tracking with Weights & Biases through a bridge
 * process.
 *
 * The host starts `PY <tools>/wandb_bridge.py` (PY: the first of
 * $MTL_PYTHON, python3, /usr/bin/python3 that has the wandb package) and
 * writes it JSON lines on a pipe:
 *
 *   {"event":"init","project":...,"entity":...,"name":...,"id":...,
 *    "dir":RUN_DIR,"resume":false,"tags":[...],"config":{...}}
 *   {"event":"log","step":N,"data":{"loss/a":0.5,...}}
 *   {"event":"finish","exit_code":0}
 *
 * The bridge calls wandb.init / run.log / run.finish with the official
 * package (offline too: WANDB_MODE=offline writes the run under
 * RUN_DIR/wandb).  Tracking never stops or stalls the run: writes never
 * block (lines wait in memory while the pipe is full), and when the bridge
 * cannot start or dies the host warns once and goes on without it.
 */
#ifndef MTL_HOST_WANDB_H
#define MTL_HOST_WANDB_H

#include "mtl/status.h"

typedef struct host_wandb host_wandb;

typedef struct host_wandb_config {
    const char *tools_dir; /* where wandb_bridge.py is */
    const char *run_dir;
    const char *project;
    const char *entity; /* "" for the user's default */
    const char *name;   /* the run's display name */
    const char *id;     /* the run's id (kept across --resume) */
    int resume;
    const char *tags_json;   /* a JSON array */
    const char *config_json; /* a JSON object */
} host_wandb_config;

/* NULL when the bridge could not start (the reason was warned). */
host_wandb *host_wandb_start(const host_wandb_config *cfg);

/* Queues one JSON line (without its newline) for the bridge. */
void host_wandb_send(host_wandb *w, const char *line);

/*
 * Sends "finish" with exit_code, waits for the bridge to end (at most
 * `timeout` seconds, then stops it) and frees everything.  NULL is a no-op.
 */
void host_wandb_finish(host_wandb *w, int exit_code, double timeout);

/* A fresh run id: 8 characters of [a-z0-9] (not from the run's seeded streams). */
void host_wandb_new_id(char id[9]);

#endif /* MTL_HOST_WANDB_H */
