#!/usr/bin/python3
"""Runs tools/bench/bench_conv.c and the same ops in PyTorch, side by side.

    /usr/bin/python3 tools/bench/bench_conv.py [--binary build/tools/bench_conv]
        [--threads 2] [--repeats 5] [--shape 2 288 384 64] [--coretype NAME]
        [--clock wall|cpu]

For each op of SegNet-MTAN's first level (3 x 3 and 1 x 1 convolutions of 64
channels at 288 x 384, batch 2; batch norm in training mode; ReLU; 2 x 2 max
pooling with indices and unpooling; the conv + batch norm + ReLU block), the
best forward and backward times of ours and of PyTorch over the repeats, and
the ratio PyTorch / ours of forward + backward (above 1: we are faster).  Both
run in child processes with the same thread count (OPENBLAS_NUM_THREADS for
ours, torch.set_num_threads for PyTorch), one after the other; the peak
resident memory of each process is printed too.

--clock cpu times both sides by their process's CPU time (all threads together)
instead of wall time; with --threads 1 it compares the work each side does, which
other jobs on a shared machine disturb far less than wall time.

--coretype sets OPENBLAS_CORETYPE for our binary: OpenBLAS 0.3.21 (Debian
bookworm) does not recognise AMD Zen 4/5 and falls back to its AVX2 "Haswell"
kernels; "SkylakeX" selects the AVX-512 ones, about 1.5-2x faster there.
PyTorch's convolutions use oneDNN, which detects AVX-512 by itself.
"""

import argparse
import os
import subprocess
import sys
import time


def run_child(cmd, env):
    """Runs cmd; returns (stdout, peak resident MB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"bench_conv.py: {cmd[0]} failed (exit code {proc.returncode})")
    return out, usage.ru_maxrss / 1024.0


def parse(out):
    """{op: (forward ms, backward ms)} from lines 'NAME FWD BWD'."""
    times = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#") and parts[0] != "op":
            times[parts[0]] = (float(parts[1]), float(parts[2]))
    return times


def torch_worker(n, h, w, c, repeats, threads, clock):
    """The same ops in PyTorch; prints lines as bench_conv does."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    conv3 = torch.nn.Conv2d(c, c, 3, padding=1)
    conv1 = torch.nn.Conv2d(c, c, 1)
    bn = torch.nn.BatchNorm2d(c)
    x0 = torch.rand(n, c, h, w) * 2 - 1
    r = torch.rand(n, c, h, w) * 2 - 1
    half = torch.rand(n, c, h // 2, w // 2) * 2 - 1
    _, idx = F.max_pool2d(x0, 2, 2, return_indices=True)

    ops = {
        "conv3x3": (lambda x: conv3(x), x0),
        "conv1x1": (lambda x: conv1(x), x0),
        "bn": (lambda x: bn(x), x0),
        "relu": (lambda x: torch.relu(x), x0),
        "pool": (lambda x: F.max_pool2d(x, 2, 2, return_indices=True)[0], x0),
        "unpool": (lambda x: F.max_unpool2d(x, idx, 2, 2, output_size=(h, w)), half),
        "block": (lambda x: torch.relu(bn(conv3(x))), x0),
    }
    print(f"# PyTorch {torch.__version__}, {threads} threads")
    for name, (op, base) in ops.items():
        best_f = best_b = float("inf")
        for rep in range(repeats + 1):
            x = base.clone().requires_grad_()
            t0 = clock()
            y = op(x)
            t1 = clock()
            y.backward(r.reshape(-1)[: y.numel()].reshape(y.shape))
            t2 = clock()
            if rep > 0:
                best_f = min(best_f, t1 - t0)
                best_b = min(best_b, t2 - t1)
        print(f"{name:8s} {1e3 * best_f:9.2f} {1e3 * best_b:9.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join("build", "tools", "bench_conv"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shape", type=int, nargs=4, default=[2, 288, 384, 64], metavar=("N", "H", "W", "C"))
    ap.add_argument("--coretype", default=None, help="OPENBLAS_CORETYPE for our binary")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n, h, w, c = args.shape

    if args.torch_worker:
        torch_worker(n, h, w, c, args.repeats, args.threads,
                     time.process_time if args.clock == "cpu" else time.perf_counter)
        return

    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    if args.coretype:
        env["OPENBLAS_CORETYPE"] = args.coretype
    ours_out, ours_mb = run_child(
        [args.binary, str(n), str(h), str(w), str(c), str(args.repeats), args.clock], env)
    ours = parse(ours_out)
    print(ours_out.rstrip())
    print(f"# ours: peak resident {ours_mb:.0f} MB")

    # Asked of a child: importing torch here would make this process large, and a child forked
    # from it would report that size as its peak (ru_maxrss counts the time before exec).
    if subprocess.run([sys.executable, "-c", "import torch"], stderr=subprocess.DEVNULL).returncode:
        print("# PyTorch is not installed (apt-get install python3-torch): no ratios")
        return
    env.pop("OPENBLAS_CORETYPE", None)
    theirs_out, theirs_mb = run_child(
        [sys.executable, os.path.abspath(__file__), "--torch-worker", "--clock", args.clock,
         "--threads", str(args.threads),
         "--repeats", str(args.repeats), "--shape", str(n), str(h), str(w), str(c)], env)
    theirs = parse(theirs_out)
    print(theirs_out.rstrip())
    print(f"# PyTorch: peak resident {theirs_mb:.0f} MB")

    print(f"\n{'op':8s} {'ours f+b ms':>12s} {'torch f+b ms':>13s} {'torch/ours':>10s}")
    for name, (f, b) in ours.items():
        if name in theirs:
            ours_t, theirs_t = f + b, sum(theirs[name])
            print(f"{name:8s} {ours_t:12.1f} {theirs_t:13.1f} {theirs_t / ours_t:10.2f}")


if __name__ == "__main__":
    main()
