#!/usr/bin/env python3
"""The bridge between mtlhost and Weights & Biases.

mtlhost starts `python3 wandb_bridge.py [--quiet]` when a run is tracked
(--wandb-project) and writes it one JSON object per line on standard input:

    {"event": "init", "project": P, "entity": E or null, "name": N, "id": ID,
     "dir": RUN_DIR, "resume": false, "tags": [...], "config": {...}}
    {"event": "log", "step": S, "data": {"loss/a": 0.5, ...}}
    {"event": "finish", "exit_code": 0}

and the bridge calls wandb.init, run.log and run.finish of the official wandb
package.  WANDB_MODE=offline writes the run under RUN_DIR/wandb without any
network (`wandb sync` uploads it later).  The library's own output is
silenced; when something fails the bridge prints one line on stderr (unless
--quiet) and exits with status 3, and mtlhost goes on without tracking.  End
of input without "finish" (mtlhost was killed) finishes the run with exit
code 1.
"""

import json
import os
import sys

REPORTED = 3  # mtlhost says nothing more for this exit status


def say(err, quiet, message):
    if not quiet:
        err.write(f"mtlhost: warning: wandb: {message}; the run goes on without tracking\n")
        err.flush()


def quiet_library():
    """wandb's defaults for a child process: no prompts, no console capture, nothing of git."""
    for key, value in (
        ("WANDB_SILENT", "true"),
        ("WANDB_CONSOLE", "off"),
        ("WANDB_DISABLE_CODE", "true"),
        ("WANDB_DISABLE_GIT", "true"),
        ("WANDB_ERROR_REPORTING", "false"),
    ):
        os.environ.setdefault(key, value)
    if not os.environ.get("MTL_WANDB_DEBUG"):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)


def settings(wandb):
    """Quiet settings, with those this wandb version knows."""
    wanted = {
        "console": "off",
        "x_disable_stats": True,
        "x_disable_meta": True,
        "x_disable_machine_info": True,
    }
    while wanted:
        try:
            return wandb.Settings(**wanted)
        except Exception as e:  # an unknown setting in this version: drop it and retry
            unknown = [k for k in wanted if k in str(e)]
            if not unknown:
                break
            for k in unknown:
                del wanted[k]
    return wandb.Settings()


def start(wandb, msg):
    return wandb.init(
        project=msg["project"],
        entity=msg.get("entity") or None,
        name=msg.get("name"),
        id=msg.get("id") or None,
        resume="allow" if msg.get("id") else None,
        dir=msg.get("dir"),
        tags=msg.get("tags") or None,
        config=msg.get("config") or {},
        settings=settings(wandb),
    )


def serve(wandb, lines):
    run = None
    for line in lines:
        if not line.strip():
            continue
        msg = json.loads(line)
        event = msg.get("event")
        if event == "init":
            run = start(wandb, msg)
        elif event == "log" and run is not None:
            run.log(msg.get("data") or {}, step=int(msg["step"]))
        elif event == "finish":
            if run is not None:
                run.finish(exit_code=int(msg.get("exit_code", 0)))
            return 0
    if run is not None:
        run.finish(exit_code=1)
    return 0


def main(argv):
    quiet = "--quiet" in argv
    err = os.fdopen(os.dup(2), "w")
    try:
        import wandb
    except ImportError:
        say(err, quiet, f"the wandb package is not installed for {sys.executable} "
                        "(to track runs: python3 -m pip install wandb)")
        return REPORTED
    quiet_library()
    try:
        return serve(wandb, sys.stdin)
    except Exception as e:
        say(err, quiet, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return REPORTED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
