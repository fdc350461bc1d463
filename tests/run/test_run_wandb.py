#!/usr/bin/env python3
"""mtlhost --wandb-project/--wandb-entity tracks a run through
tools/wandb_bridge.py with the official wandb package, here in offline mode
(nothing leaves the machine): the offline run written under RUN_DIR/wandb is
read back with wandb's own reader and its config and per-epoch and per-step
metrics compared with config.ini, metrics.csv and steps.csv.  Also: a bridge
that cannot start (no python with wandb) gives one warning line naming the
pip command, and the run succeeds.

    test_run_wandb.py MTLHOST BUILD_DIR SOURCE_DIR
"""

import csv
import glob
import json
import math
import os
import subprocess
import sys
import tempfile

from pyhelp import check, need, run_host

need("wandb")

from wandb.proto import wandb_internal_pb2  # noqa: E402

try:
    from wandb.sdk.internal import datastore  # noqa: E402
except ImportError:
    print("skipped: this wandb has no offline-run reader (wandb.sdk.internal.datastore); "
          "install the version of tools/requirements.txt")
    sys.exit(77)

OFFLINE = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_DISABLE_GIT": "true",
    "WANDB_ERROR_REPORTING": "false",
    "WANDB_API_KEY": "",
}


def read_offline_run(run_dir):
    """(config, [history rows]) of the offline run under run_dir/wandb."""
    files = glob.glob(os.path.join(run_dir, "wandb", "offline-run-*", "run-*.wandb"))
    check(len(files) == 1, f"one offline run expected under {run_dir}/wandb, got {files}")
    store = datastore.DataStore()
    store.open_for_scan(files[0])
    config, history = {}, []
    while True:
        data = store.scan_data()
        if data is None:
            break
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update({u.key: json.loads(u.value_json) for u in record.run.config.update})
        elif kind == "config":
            config.update({u.key: json.loads(u.value_json) for u in record.config.update})
        elif kind == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                            for i in record.history.item})
    return config, history


def close(a, b):
    # metrics.csv keeps 9 significant digits, the tracked values 17
    return math.isclose(float(a), float(b), rel_tol=1e-8, abs_tol=1e-12)


def main(mtlhost, build_dir):
    good = os.path.join(build_dir, "tests/host/good")
    with tempfile.TemporaryDirectory(prefix="mtl_test_wandb_") as tmp:
        run = os.path.join(tmp, "run")
        env = dict(OFFLINE, WANDB_DIR=tmp, WANDB_CONFIG_DIR=os.path.join(tmp, "config"),
                   WANDB_CACHE_DIR=os.path.join(tmp, "cache"))
        r = run_host(mtlhost, ["--method", "fx_weights", "--task", "fx_linear", "--out", run,
                               "--set", "train.epochs=3", "--set", "output.log_every_steps=3",
                               "--set", "output.figures=false", "--set", "train.lr=0.04",
                               "--wandb-project", "mtl-test", "--wandb-entity", "someone"],
                     env=env, plugin_path=good)
        check(r.stderr == "", f"no warning expected, got: {r.stderr}")
        config, history = read_offline_run(run)
        check(config.get("mtl") == {"method": "fx_weights", "task": "fx_linear", "seed": 42},
              f"config.mtl: {config.get('mtl')}")
        check(config.get("train", {}).get("lr") == 0.04, f"config.train.lr: {config.get('train')}")
        check(config.get("train", {}).get("epochs") == 3, "config.train.epochs")
        check(config.get("output", {}).get("wandb_project") == "mtl-test", "config.output")

        with open(os.path.join(run, "metrics.csv"), newline="") as f:
            epochs = list(csv.DictReader(f))
        with open(os.path.join(run, "steps.csv"), newline="") as f:
            steps = list(csv.DictReader(f))
        by_step = {}
        for row in history:
            by_step.setdefault(row["_step"], {}).update(row)
        for i, row in enumerate(epochs):
            got = by_step.get(4 * (i + 1), {})
            for key, column in (("loss/a", "loss_a"), ("weight/b", "weight_b"),
                                ("val/delta_m", "val_delta_m"), ("test/fit", "test_fit"),
                                ("lr", "lr"), ("epoch", "epoch")):
                check(key in got and close(got[key], row[column]),
                      f"epoch {i}: {key} = {got.get(key)} (expected {row[column]})")
        for row in steps:
            got = by_step.get(int(row["step"]), {})
            check("step/loss/a" in got and close(got["step/loss/a"], row["loss_a"]),
                  f"step {row['step']}: step/loss/a = {got.get('step/loss/a')}")
        with open(os.path.join(run, "run.json")) as f:
            check(len(json.load(f)["wandb_id"]) == 8, "run.json names the wandb run")

        # No python with wandb: one line with the pip command; the run goes on.
        probe = subprocess.run(["/usr/bin/python3", "-c", "import wandb"], capture_output=True)
        if probe.returncode != 0:
            run2 = os.path.join(tmp, "run2")
            r = run_host(mtlhost, ["--method", "fx_weights", "--task", "fx_linear", "--out", run2,
                                   "--set", "output.figures=false", "--wandb-project", "mtl-test"],
                         env=dict(env, MTL_PYTHON="/nonexistent/python3", PATH="/nonexistent"),
                         plugin_path=good)
            check(r.stderr == "mtlhost: warning: wandb: no python3 with the wandb package (tried "
                              "$MTL_PYTHON, python3, /usr/bin/python3); to track runs: python3 -m "
                              "pip install wandb; the run goes on without tracking\n",
                  f"stderr: {r.stderr!r}")
            check(os.path.exists(os.path.join(run2, "results.md")), "the untracked run finished")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
