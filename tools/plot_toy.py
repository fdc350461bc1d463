#!/usr/bin/env python3
"""Draw the toy experiment's figure (Nash-MTL paper, Figure 1).

    plot_toy.py RUN_DIR
        reads RUN_DIR/toy_trajectories.csv and writes RUN_DIR/toy.png: the
        trajectories of every start in loss space (l1 horizontal, l2
        vertical) over the Pareto front, titled with the run's method.

    plot_toy.py --compare RUN_DIR [RUN_DIR ...] -o OUT.png
        draws several runs (one per method) side by side in one figure.

The Pareto front is the curve traced by x1 in [-7, 7] at x2 = -8.3552
(REFERENCE.md, section 2), evaluated here with numpy in float64 with the
task's scale (read from RUN_DIR/config.ini, [task] scale; 0.1 otherwise).
Figures are written to a temporary name and renamed into place.  Any problem
(no matplotlib, a missing or malformed CSV) ends the script with one line on
stderr and exit status 1.
"""

import argparse
import configparser
import csv
import math
import os
import re
import sys

PROG = "plot_toy"
COLUMNS = ["start", "step", "x1", "x2", "l1", "l2"]
FRONT_X2 = -8.3552
DEFAULT_SCALE = 0.1

# The names the paper's figure uses.
DISPLAY_NAMES = {
    "nashmtl": "Nash-MTL",
    "cagrad": "CAGrad",
    "mgda": "MGDA",
    "pcgrad": "PCGrad",
    "ls": "LS",
    "imtl": "IMTL-G",
    "uw": "UW",
    "rlw": "RLW",
    "dwa": "DWA",
    "scaleinvls": "SI-LS",
    "stl": "STL",
}


class PlotError(Exception):
    """A problem to report in one line."""


def fail(message):
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(1)


def import_plotting():
    """numpy and matplotlib (Agg backend), or a PlotError naming what is missing."""
    try:
        import numpy
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError as exc:
        raise PlotError(f"cannot draw: matplotlib is not available to {sys.executable} "
                        f"({exc}); install python3-matplotlib") from None
    return numpy, matplotlib, pyplot


# ---- reading a run ---------------------------------------------------------


def read_config(run_dir):
    """RUN_DIR/config.ini as a ConfigParser, empty when absent or unreadable."""
    cfg = configparser.ConfigParser(strict=False, interpolation=None,
                                    inline_comment_prefixes=("#", ";"))
    path = os.path.join(run_dir, "config.ini")
    try:
        cfg.read(path)
    except (configparser.Error, UnicodeDecodeError, OSError):
        pass
    return cfg


def method_name(run_dir, cfg):
    """The run's method code name: from config.ini's header comment, which
    mtlhost writes as "# method NAME (PATH), task ...", or a [run] method key;
    else from a run folder named <task>-<method>-<time>; else the folder's name."""
    if cfg.has_option("run", "method"):
        return cfg.get("run", "method").strip()
    try:
        with open(os.path.join(run_dir, "config.ini"), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"[#;]\s*method[\s:=]+([^\s(,]+)", line)
                if m:
                    return os.path.basename(m.group(1)).removesuffix(".so")
    except (OSError, UnicodeDecodeError):
        pass
    base = os.path.basename(os.path.normpath(run_dir))
    parts = base.split("-")
    if len(parts) >= 3 and parts[0] == "toy":
        return parts[1]
    return base


def task_scale(cfg):
    try:
        return cfg.getfloat("task", "scale", fallback=DEFAULT_SCALE)
    except ValueError:
        return DEFAULT_SCALE


def read_trajectories(run_dir):
    """{start: [(step, x1, x2, l1, l2), ...]} from RUN_DIR/toy_trajectories.csv."""
    path = os.path.join(run_dir, "toy_trajectories.csv")
    traces = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            header = next(rows, None)
            if header != COLUMNS:
                raise PlotError(f"{path}:1: bad header (expected {','.join(COLUMNS)}, "
                                f"got {','.join(header) if header else 'an empty file'})")
            for lineno, row in enumerate(rows, start=2):
                start, point = parse_row(path, lineno, row)
                traces.setdefault(start, []).append(point)
    except OSError as exc:
        raise PlotError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PlotError(f"{path}: not a text file") from None
    if not traces:
        raise PlotError(f"{path}: no trajectory (expected rows after the header)")
    for start, points in traces.items():
        steps = [p[0] for p in points]
        if steps != sorted(steps):
            raise PlotError(f"{path}: the steps of start {start} are out of order")
    return traces


def parse_row(path, lineno, row):
    """(start, (step, x1, x2, l1, l2)) of one CSV row."""
    if len(row) != len(COLUMNS):
        raise PlotError(f"{path}:{lineno}: wrong number of fields "
                        f"(expected {len(COLUMNS)}, got {len(row)})")
    try:
        start, step = int(row[0]), int(row[1])
        values = [float(v) for v in row[2:]]
    except ValueError:
        raise PlotError(f"{path}:{lineno}: not a number in '{','.join(row)}'") from None
    if not all(math.isfinite(v) for v in values):
        raise PlotError(f"{path}:{lineno}: non-finite value in '{','.join(row)}'")
    return start, (step, *values)


# ---- the objectives (REFERENCE.md, section 2), for the front ---------------


def toy_losses(np, x1, x2, scale):
    """f1 (scaled) and f2 of arrays x1, x2, as the reference defines them."""
    c1 = np.maximum(np.tanh(x2 / 2), 0)
    c2 = np.maximum(np.tanh(-x2 / 2), 0)
    log1 = np.log(np.maximum(np.abs(0.5 * (-x1 - 7) - np.tanh(-x2)), 5e-6)) + 6
    log2 = np.log(np.maximum(np.abs(0.5 * (-x1 + 3) + np.tanh(-x2) + 2), 5e-6)) + 6
    quad1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    quad2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    return scale * (c1 * log1 + c2 * quad1), c1 * log2 + c2 * quad2


def pareto_front(np, scale):
    x1 = np.linspace(-7, 7, 1000)
    return toy_losses(np, x1, np.full_like(x1, FRONT_X2), scale)


# ---- drawing ---------------------------------------------------------------


def draw_run(np, mpl, ax, run):
    """One panel: the front, then every start's path coloured along its course."""
    f1, f2 = pareto_front(np, run["scale"])
    ax.plot(f1, f2, "-", linewidth=8, color="#72727A", solid_capstyle="round",
            label="Pareto front", zorder=1)
    for i, start in enumerate(sorted(run["traces"])):
        pts = np.asarray(run["traces"][start])
        l1, l2 = pts[:, 3], pts[:, 4]
        colors = mpl.cm.magma_r(np.linspace(0.1, 0.6, len(l1)))
        ax.scatter(l1, l2, color=colors, s=5, zorder=2, linewidths=0)
        ax.scatter(l1[:1], l2[:1], color="k", s=110, zorder=4,
                   label="start" if i == 0 else None)
        ax.scatter(l1[-1:], l2[-1:], marker="*", color="#F2C12E", edgecolors="k",
                   linewidths=0.8, s=220, zorder=5, label="end" if i == 0 else None)
    ax.set_title(run["title"], fontsize=20)
    ax.set_xlabel(r"$\ell_1$", fontsize=18)
    ax.set_ylabel(r"$\ell_2$", fontsize=18)
    ax.tick_params(labelsize=12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def load_run(run_dir):
    cfg = read_config(run_dir)
    name = method_name(run_dir, cfg)
    return {
        "dir": run_dir,
        "title": DISPLAY_NAMES.get(name.lower(), name),
        "scale": task_scale(cfg),
        "traces": read_trajectories(run_dir),
    }


def save_atomically(fig, out):
    """Renders to OUT.tmp.png in the same folder, then renames it to OUT."""
    tmp = out + ".tmp.png"
    try:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", facecolor="white")
        os.replace(tmp, out)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise PlotError(f"cannot write {out}: {exc.strerror or exc}") from None


def plot(run_dirs, out):
    np, mpl, plt = import_plotting()
    runs = [load_run(d) for d in run_dirs]
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.6), squeeze=False)
    for ax, run in zip(axes[0], runs):
        draw_run(np, mpl, ax, run)
    fig.tight_layout()
    # One legend above the panels, as in the paper, clear of the paths.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
               frameon=False, fontsize=13)
    save_atomically(fig, out)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG, description="Draw the toy experiment's trajectories over the Pareto front.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--compare", action="store_true",
                        help="draw several runs side by side (needs -o)")
    parser.add_argument("-o", "--output", help="the figure to write (default RUN_DIR/toy.png)")
    args = parser.parse_args(argv)

    if len(args.run_dirs) > 1 and not args.compare:
        parser.error("several RUN_DIRs need --compare")
    if args.compare and not args.output:
        parser.error("--compare needs -o OUT.png")
    out = args.output or os.path.join(args.run_dirs[0], "toy.png")
    try:
        plot(args.run_dirs, out)
    except PlotError as exc:
        fail(str(exc))
    print(f"{PROG}: wrote {out}")


if __name__ == "__main__":
    main()
