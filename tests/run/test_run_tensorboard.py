#!/usr/bin/env python3
"""mtlhost --tensorboard writes event files that TensorBoard's own reader
(EventAccumulator) reads back with the tags, steps and values of
metrics.csv (per epoch) and steps.csv (per logged step).

    test_run_tensorboard.py MTLHOST BUILD_DIR SOURCE_DIR
"""

import csv
import math
import os
import struct
import sys
import tempfile

from pyhelp import check, need, run_host

need("tensorboard")

from tensorboard.backend.event_processing import event_accumulator  # noqa: E402


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def main(mtlhost, build_dir):
    with tempfile.TemporaryDirectory(prefix="mtl_test_tb_") as tmp:
        run = os.path.join(tmp, "run")
        run_host(mtlhost, ["--method", "fx_weights", "--task", "fx_linear", "--out", run,
                           "--set", "train.epochs=3", "--set", "output.log_every_steps=2",
                           "--set", "output.figures=false", "--tensorboard", "--quiet"],
                 plugin_path=os.path.join(build_dir, "tests/host/good"))
        files = os.listdir(os.path.join(run, "tensorboard"))
        check(len(files) == 1 and files[0].startswith("events.out.tfevents."),
              f"one event file expected in {run}/tensorboard, got {files}")
        acc = event_accumulator.EventAccumulator(os.path.join(run, "tensorboard"),
                                                 size_guidance={event_accumulator.SCALARS: 0})
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        with open(os.path.join(run, "metrics.csv"), newline="") as f:
            epochs = list(csv.DictReader(f))
        with open(os.path.join(run, "steps.csv"), newline="") as f:
            steps = list(csv.DictReader(f))

        expected = {"loss/a": "loss_a", "loss/b": "loss_b", "weight/a": "weight_a",
                    "method_loss": "method_loss", "train/err_a": "train_err_a",
                    "val/fit": "val_fit", "val/delta_m": "val_delta_m",
                    "test/err_b": "test_err_b", "test/delta_m": "test_delta_m", "lr": "lr",
                    "skipped_steps": "skipped_steps"}
        at_epochs = [4 * (i + 1) for i in range(len(epochs))]  # fx_linear: 4 batches an epoch
        for tag, column in expected.items():
            check(tag in tags, f"tag {tag} missing from {sorted(tags)}")
            events = acc.Scalars(tag)
            check([e.step for e in events] == at_epochs,
                  f"{tag}: steps {[e.step for e in events]} (expected {at_epochs})")
            for e, row in zip(events, epochs):
                want = f32(float(row[column]))
                check(e.value == want or math.isclose(e.value, want, rel_tol=1e-6),
                      f"{tag} at step {e.step}: {e.value} (expected {want} from metrics.csv)")

        for tag, column in {"step/loss/a": "loss_a", "step/weight/b": "weight_b",
                            "step/lr": "lr"}.items():
            events = acc.Scalars(tag)
            check([e.step for e in events] == [int(r["step"]) for r in steps],
                  f"{tag}: steps {[e.step for e in events]} differ from steps.csv")
            for e, row in zip(events, steps):
                want = f32(float(row[column]))
                check(math.isclose(e.value, want, rel_tol=1e-6), f"{tag}: {e.value} != {want}")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
