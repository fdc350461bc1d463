#!/usr/bin/env python3
"""Draw a run's training curves and the method's task weights.

    plot_run.py RUN_DIR [--task-figure TOOL.py] [-o OUT.png]

Reads RUN_DIR/metrics.csv (one row per epoch, written by mtlhost) and, when
the run logged steps (output.log_every_steps), RUN_DIR/steps.csv, and writes
RUN_DIR/training.png: the per-task training losses (top) and the weights the
method reported for each task (bottom), one line per task and trial, against
the training step.  The figure is written under a temporary name and renamed
into place.

--task-figure runs the task's own figure tool (e.g. plot_toy.py) afterwards in
this same process, as `TOOL.py RUN_DIR`, so that matplotlib is imported once;
mtlhost does this after every run.  Problems end the script with one line on
stderr per tool and exit status 1.
"""

import argparse
import csv
import os
import runpy
import sys

PROG = "plot_run"


class PlotError(Exception):
    """A problem to report in one line."""


def read_csv(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise PlotError(f"cannot read {path}: {e.strerror.lower()}") from None
    return rows


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def task_columns(fieldnames, prefix):
    return [c[len(prefix):] for c in fieldnames if c.startswith(prefix)]


def series_from_epochs(rows):
    """Per trial: x = training steps at the end of each epoch, with each row's values."""
    by_trial = {}
    for row in rows:
        trial = int(row["trial"])
        done = by_trial.setdefault(trial, {"x": [], "rows": [], "steps": 0})
        done["steps"] += int(float(row["steps"] or 0))
        done["x"].append(done["steps"])
        done["rows"].append(row)
    return by_trial


def series_from_steps(rows):
    """Per trial: x = the step within the trial, with each logged step's values."""
    by_trial = {}
    for row in rows:
        trial = int(row["trial"])
        s = by_trial.setdefault(trial, {"x": [], "rows": [], "first": int(row["step"])})
        s["x"].append(int(row["step"]) - s["first"] + 1)
        s["rows"].append(row)
    return by_trial


def import_pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(
            "matplotlib is not installed for this python "
            "(apt-get install python3-matplotlib, or python3 -m pip install matplotlib)"
        ) from None
    return plt


def draw(run_dir, out):
    metrics = read_csv(os.path.join(run_dir, "metrics.csv"))
    if not metrics:
        raise PlotError(f"{run_dir}/metrics.csv has no epochs yet")
    tasks = task_columns(metrics[0].keys(), "loss_")
    steps_path = os.path.join(run_dir, "steps.csv")
    if os.path.exists(steps_path) and read_csv(steps_path):
        series, per = series_from_steps(read_csv(steps_path)), "at every logged step"
    else:
        series, per = series_from_epochs(metrics), "mean over each epoch"
    plt = import_pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    many = len(series) > 1
    for t, (trial, s) in enumerate(sorted(series.items())):
        style = ["-", "--", ":", "-."][t % 4]
        marker = "o" if len(s["x"]) == 1 else None
        for i, task in enumerate(tasks):
            label = f"{task}, trial {trial}" if many else task
            color = colors[i % len(colors)]
            for ax, prefix in ((axes[0], "loss_"), (axes[1], "weight_")):
                y = [number(r.get(prefix + task)) for r in s["rows"]]
                ax.plot(s["x"], y, style, color=color, marker=marker, label=label)
    name = os.path.basename(os.path.normpath(run_dir))
    axes[0].set_title(f"{name}: training losses ({per})")
    axes[0].set_ylabel("loss")
    axes[1].set_title("task weights reported by the method")
    axes[1].set_ylabel("weight")
    axes[1].set_xlabel("training step" + (" (within each trial)" if many else ""))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", ncol=2 if len(tasks) * len(series) > 6 else 1)
    fig.tight_layout()
    tmp = out + ".tmp"
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, out)
    except OSError as e:
        raise PlotError(f"cannot write {out}: {e.strerror.lower()}") from None
    finally:
        plt.close(fig)
    print(f"{PROG}: wrote {out}")


def run_task_figure(tool, run_dir):
    """Runs TOOL as a script with argv [TOOL, RUN_DIR]; its exit status."""
    saved = sys.argv
    sys.argv = [tool, run_dir]
    try:
        runpy.run_path(tool, run_name="__main__")
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # the tool's own failure, in one line
        print(f"{PROG}: {os.path.basename(tool)} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        sys.argv = saved


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--task-figure", metavar="TOOL.py")
    parser.add_argument("-o", "--output", metavar="OUT.png")
    args = parser.parse_args(argv)
    status = 0
    try:
        draw(args.run_dir, args.output or os.path.join(args.run_dir, "training.png"))
    except PlotError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        status = 1
    if args.task_figure and run_task_figure(args.task_figure, args.run_dir) != 0:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
