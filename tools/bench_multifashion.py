#!/usr/bin/python3
"""Time one Multi-Fashion training step of ours (mtlhost) against PyTorch, side by side.

One step = forward of a batch of 256 composed images through the shared LeNet-style
trunk and both heads, the two cross-entropy losses, the method's backward pass(es) and
Adam: with `ls` (one backward pass of the summed loss) and with `nashmtl` (the per-task
gradients of the shared parameters, their Gram matrix, the Nash bargaining weights, the
weighted update and the norm clip).  Both sides use the same number of threads (2 by
default: OPENBLAS_NUM_THREADS for ours, torch.set_num_threads for PyTorch).

Ours: runs

    mtlhost --method M --task multifashion --set train.epochs=1
            --set task.train_pairs=256*K --set task.val_pairs=256 --set task.test_pairs=256

for K = 3 and K = 3 + steps; the time of one step is the difference of the two runs'
wall times divided by `steps`, so that loading the data, the evaluation and the first
steps (which grow the graph's arena) cancel out.  Peak memory is the maximum resident
set of the longer run (wait4's ru_maxrss), the dataset's 55 MB of bytes included.

PyTorch: the same model written here from experiments/multifashion/README.md (not from
any reference code), random inputs of the same shape, torch.optim.Adam.  For nashmtl the
step follows the reference's structure: torch.autograd.grad of each task's loss with
respect to the shared parameters (retain_graph), their Gram matrix, the weights (a
damped Newton method in numpy on f(a) = a^T M a / 2 - sum log a, a negligible cost),
one backward pass of the weighted loss, and a clip of the shared gradient's norm to 1.
Steps are timed after two warm-up steps; peak memory is ru_maxrss of the process.

Usage:
  tools/bench_multifashion.py [--build build] [--methods ls,nashmtl] [--threads 2]
                              [--steps 20] [--side both|ours|torch]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

BATCH = 256


# ---- ours ----------------------------------------------------------------------------


def run_ours(build, method, batches, threads, out_root):
    """Wall time and peak resident MB of one mtlhost run over `batches` training batches."""
    out = os.path.join(out_root, f"{method}-{batches}")
    cmd = [os.path.join(build, "mtlhost"), "--method", method, "--task", "multifashion",
           "--set", "train.epochs=1", "--set", f"train.batch_size={BATCH}",
           "--set", f"task.train_pairs={BATCH * batches}", "--set", f"task.val_pairs={BATCH}",
           "--set", f"task.test_pairs={BATCH}", "--set", "output.figures=false", "--out", out]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench_multifashion.py: {' '.join(cmd)} failed:\n{err}")
    return seconds, usage.ru_maxrss / 1024.0


def bench_ours(build, method, steps, threads):
    with tempfile.TemporaryDirectory(prefix="mtl_bench_mf_") as root:
        short, _ = run_ours(build, method, 3, threads, root)
        long, peak = run_ours(build, method, 3 + steps, threads, root)
    return (long - short) / steps, peak


# ---- PyTorch ------------------------------------------------------------------------------


def nash_weights(gram, iters=20):
    """alpha > 0 with alpha_i (M alpha)_i = 1: Newton on a^T M a / 2 - sum log a, damped."""
    import numpy as np

    k = gram.shape[0]
    a = np.ones(k) / np.sqrt(np.trace(gram) / k + 1e-12)
    f = lambda v: 0.5 * v @ gram @ v - np.log(v).sum()
    for _ in range(iters):
        g = gram @ a - 1.0 / a
        h = gram + np.diag(1.0 / a**2)
        step = np.linalg.solve(h, g)
        t = 1.0
        while np.any(a - t * step <= 0) or f(a - t * step) > f(a) - 0.25 * t * g @ step:
            t *= 0.5
            if t < 1e-8:
                break
        a = a - t * step
        if np.abs(g).max() < 1e-9:
            break
    return a


def torch_worker(method, steps, threads):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10, 5)
            self.conv2 = nn.Conv2d(10, 20, 5)
            self.fc = nn.Linear(320, 50)
            self.heads = nn.ModuleList([nn.Linear(50, 10), nn.Linear(50, 10)])

        def forward(self, x):
            h = F.relu(F.max_pool2d(self.conv1(x), 2))
            h = F.relu(F.max_pool2d(self.conv2(h), 2))
            rep = F.relu(self.fc(h.flatten(1)))
            return [head(rep) for head in self.heads]

    net = Net()
    shared = [p for n, p in net.named_parameters() if not n.startswith("heads")]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(BATCH, 1, 28, 28)
    labels = [torch.randint(0, 10, (BATCH,)) for _ in range(2)]

    def step():
        logits = net(x)
        losses = [F.cross_entropy(z, y) for z, y in zip(logits, labels)]
        opt.zero_grad()
        if method == "ls":
            (losses[0] + losses[1]).backward()
        else:
            grads = [torch.cat([g.flatten() for g in torch.autograd.grad(l, shared, retain_graph=True)])
                     for l in losses]
            j = torch.stack(grads)
            alpha = nash_weights((j @ j.T).double().numpy())
            sum(float(a) * l for a, l in zip(alpha, losses)).backward()
            torch.nn.utils.clip_grad_norm_(shared, 1.0)
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    print((time.perf_counter() - t0) / steps)


def bench_torch(method, steps, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", method, "--steps", str(steps),
           "--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("bench_multifashion.py: the PyTorch worker failed")
    return float(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--methods", default="ls,nashmtl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--side", choices=["both", "ours", "torch"], default="both")
    ap.add_argument("--torch-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.torch_worker:
        torch_worker(args.torch_worker, args.steps, args.threads)
        return

    # Asked of a child: importing torch here would make this process large, and every child
    # forked from it would report that size as its peak (ru_maxrss counts the time before exec).
    have_torch = args.side != "ours" and subprocess.run(
        [sys.executable, "-c", "import torch"], stderr=subprocess.DEVNULL).returncode == 0
    if args.side != "ours" and not have_torch:
        print("# PyTorch is not installed (apt-get install python3-torch): ours only")

    print(f"# Multi-Fashion training step, batch {BATCH}, {args.threads} threads, "
          f"{args.steps} timed steps")
    print(f"{'method':8s} {'ours ms':>9s} {'torch ms':>9s} {'torch/ours':>10s} "
          f"{'ours MB':>8s} {'torch MB':>9s}")
    for method in args.methods.split(","):
        ours = bench_ours(args.build, method, args.steps, args.threads) if args.side != "torch" else None
        theirs = bench_torch(method, args.steps, args.threads) if have_torch else None
        o_ms = f"{1e3 * ours[0]:9.2f}" if ours else f"{'-':>9s}"
        t_ms = f"{1e3 * theirs[0]:9.2f}" if theirs else f"{'-':>9s}"
        ratio = f"{theirs[0] / ours[0]:10.2f}" if ours and theirs else f"{'-':>10s}"
        o_mb = f"{ours[1]:8.0f}" if ours else f"{'-':>8s}"
        t_mb = f"{theirs[1]:9.0f}" if theirs else f"{'-':>9s}"
        print(f"{method:8s} {o_ms} {t_ms} {ratio} {o_mb} {t_mb}", flush=True)


if __name__ == "__main__":
    main()
