#!/usr/bin/env python3
"""Times the toy experiment: mtlhost against a PyTorch loop, in the same run.

    python3 tools/bench_toy.py [--build build] [--steps 35000] [--threads 2]

Our side runs `mtlhost --method M --task toy` for LS and Nash-MTL (figures off) and
reads the wall time and peak memory of the process. The PyTorch side is the reference's
toy loop for LS: the two objectives of REFERENCE.md built from torch ops on a leaf x,
Adam (lr 1e-3), one backward of the summed losses per step, five starts. It needs
PyTorch (Debian: apt-get install python3-torch, then run this script with
/usr/bin/python3). Prints a table of seconds, microseconds per step and the ratios.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

STARTS = [(-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0)]


def run_ours(build, method, steps):
    """Seconds of wall time and peak RSS (MiB) of one full mtlhost toy run."""
    host = os.path.join(build, "mtlhost")
    with tempfile.TemporaryDirectory() as out:
        cmd = [host, "--method", method, "--task", "toy", "--set", f"task.steps={steps}",
               "--set", "output.figures=false", "--out", os.path.join(out, "run")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024.0


def torch_objectives(torch, x, scale=0.1):
    """f1, f2 of the toy (REFERENCE.md section 2), as the reference builds them."""
    x1, x2 = x[0], x[1]
    c1 = torch.clamp(torch.tanh(x2 / 2), min=0)
    c2 = torch.clamp(torch.tanh(-x2 / 2), min=0)
    f1 = c1 * (torch.log(torch.clamp(torch.abs(0.5 * (-x1 - 7) - torch.tanh(-x2)), min=5e-6))
               + 6) + c2 * (((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20)
    f2 = c1 * (torch.log(torch.clamp(torch.abs(0.5 * (-x1 + 3) + torch.tanh(-x2) + 2),
                                     min=5e-6)) + 6) \
        + c2 * (((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20)
    return f1 * scale, f2


def run_torch_ls(steps, threads):
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    finals = []
    for start in STARTS:
        x = torch.tensor(start, requires_grad=True)
        opt = torch.optim.Adam([x], lr=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            f1, f2 = torch_objectives(torch, x)
            (f1 + f2).backward()
            opt.step()
        finals.append(tuple(float(v) for v in x.detach()))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return seconds, peak, finals


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--steps", type=int, default=35000, help="steps per start (35000)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (2)")
    args = ap.parse_args()
    total = 5 * args.steps

    rows = []
    for method in ("ls", "nashmtl"):
        seconds, peak = run_ours(args.build, method, args.steps)
        rows.append((f"mtl {method}", seconds, peak))
    try:
        seconds, peak, finals = run_torch_ls(args.steps, args.threads)
        rows.append(("pytorch ls", seconds, peak))
    except ImportError:
        print("bench_toy: pytorch is not importable by this python; "
              "apt-get install python3-torch and run with /usr/bin/python3", file=sys.stderr)
        finals = None

    print(f"toy: 5 starts x {args.steps} steps = {total} steps")
    print(f"{'run':<14}{'seconds':>10}{'us/step':>10}{'peak MiB':>10}{'vs pytorch':>12}")
    torch_seconds = rows[-1][1] if finals is not None else None
    for name, seconds, peak in rows:
        ratio = f"{torch_seconds / seconds:.1f}x" if torch_seconds else "-"
        print(f"{name:<14}{seconds:>10.3f}{1e6 * seconds / total:>10.2f}{peak:>10.1f}{ratio:>12}")
    if finals:
        print("pytorch ls final x:", ", ".join(f"({a:.3f}, {b:.3f})" for a, b in finals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
