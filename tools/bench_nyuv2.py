#!/usr/bin/env python3
"""Time one NYUv2 training step of ours (mtlhost) against PyTorch, side by side.

The workload of PERFORMANCE.md: SegNet-MTAN at 288 x 384, batch 2, one step =
forward + backward + Adam, with `ls` (one backward pass of the summed loss) and
with `nashmtl` (the per-task gradients of the shared parameters, their Gram
matrix, the weights, and the update).  Both sides run on the same machine with
the same number of threads (2 by default, OpenBLAS and PyTorch alike).

Ours: the script writes synthetic scenes in the real MTAN layout
(<tmp>/train/{image,label,depth,normal}/<i>.npy, float32, 288 x 384) and runs

    mtlhost --method M --task nyuv2 --set task.data=<tmp> --set train.epochs=1
            --set task.max_train_batches=2+STEPS --set output.progress=lines ...

and timestamps the host's progress line of every batch as it arrives: the
time between two lines is one whole step (loading the batch, forward,
backward, the method, Adam).  The first two steps are left out (the first
grows the graph's arena, the second touches it consolidated into one block;
from the third on a step allocates nothing); the median of the others is
reported.  Peak memory is the child's maximum resident set (wait4's
ru_maxrss).

PyTorch: the same architecture written here from REFERENCE.md and the MTAN
paper (not the reference's code), the reference's losses, torch.optim.Adam.
For nashmtl the step has the reference's structure: torch.autograd.grad of
each task's loss with respect to the shared parameters (retain_graph), their
Gram matrix, the Nash bargaining weights (solved here with a damped Newton
method in numpy instead of cvxpy, a negligible cost either way), then one
backward pass of the weighted loss and a clip of the shared gradient's norm.
Steps are timed after one warm-up step; peak memory is ru_maxrss of the
process.

Usage:
  tools/bench_nyuv2.py [--build build] [--methods ls,nashmtl] [--threads 2]
                       [--steps 2] [--side both|ours|torch] [--height 288 --width 384]
  tools/bench_nyuv2.py --count      parameter counts of the PyTorch models
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


# ---- the PyTorch models (written from the architecture's description) -----

def torch_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    widths = [64, 128, 256, 512, 512]

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))

    def attention(cin, mid, cout):
        return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                             nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout), nn.Sigmoid())

    def head(cout):
        return nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, cout, 1))

    def stage_convs(c, n):
        return block(c, c) if n == 1 else nn.Sequential(*[block(c, c) for _ in range(n)])

    class Net(nn.Module):
        def __init__(self, mtan):
            super().__init__()
            f = widths
            self.mtan = mtan
            self.encoder_block = nn.ModuleList(
                [block(3 if i == 0 else f[i - 1], f[i]) for i in range(5)])
            self.decoder_block = nn.ModuleList(
                [block(f[i], 64 if i == 0 else f[i - 1]) for i in range(5)])
            self.conv_block_enc = nn.ModuleList(
                [stage_convs(f[i], 1 if i < 2 else 2) for i in range(5)])
            self.conv_block_dec = nn.ModuleList(
                [stage_convs(64 if i == 0 else f[i - 1], 1 if i < 2 else 2) for i in range(5)])
            if mtan:
                self.encoder_att = nn.ModuleList([nn.ModuleList(
                    [attention(f[0] if j == 0 else 2 * f[j], f[j], f[j]) for j in range(5)])
                    for _ in range(3)])
                self.decoder_att = nn.ModuleList([nn.ModuleList(
                    [attention(2 * f[0], f[0], f[0]) if j == 0 else
                     attention(f[j] + f[j - 1], f[j - 1], f[j - 1]) for j in range(5)])
                    for _ in range(3)])
                self.encoder_block_att = nn.ModuleList(
                    [block(f[j], [128, 256, 512, 512, 512][j]) for j in range(5)])
                self.decoder_block_att = nn.ModuleList(
                    [block(f[j], [64, 64, 128, 256, 512][j]) for j in range(5)])
            self.pred_task1 = head(13)
            self.pred_task2 = head(1)
            self.pred_task3 = head(3)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_normal_(m.weight)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            first, last, up, dec, idx = [], [], [], [], []
            h = x
            for i in range(5):
                h = self.encoder_block[i](h)
                first.append(h)
                h = self.conv_block_enc[i](h)
                last.append(h)
                h, ix = F.max_pool2d(h, 2, 2, return_indices=True)
                idx.append(ix)
            for i in range(5):
                s = 4 - i
                h = F.max_unpool2d(h, idx[s], 2, 2, output_size=last[s].shape[-2:])
                up.append(h)
                h = self.conv_block_dec[s](self.decoder_block[s](h))
                dec.append(h)
            feats = [dec[-1]] * 3
            if self.mtan:
                feats = []
                for t in range(3):
                    a = None
                    for j in range(5):
                        inp = first[0] if j == 0 else torch.cat((first[j], a), dim=1)
                        a = self.encoder_att[t][j](inp) * last[j]
                        a = F.max_pool2d(self.encoder_block_att[j](a), 2, 2)
                    for j in range(5):
                        s = 4 - j
                        a = F.interpolate(a, scale_factor=2, mode="bilinear", align_corners=True)
                        a = self.decoder_block_att[s](a)
                        a = self.decoder_att[t][s](torch.cat((up[j], a), dim=1)) * dec[j]
                    feats.append(a)
            seg = F.log_softmax(self.pred_task1(feats[0]), dim=1)
            depth = self.pred_task2(feats[1])
            normal = self.pred_task3(feats[2])
            normal = normal / torch.norm(normal, p=2, dim=1, keepdim=True)
            return seg, depth, normal

    return Net


def torch_losses(pred, label, depth, normal):
    import torch
    import torch.nn.functional as F

    seg, dpred, npred = pred
    dmask = (torch.sum(depth, dim=1) != 0).float().unsqueeze(1)
    nmask = (torch.sum(normal, dim=1) != 0).float().unsqueeze(1)
    l_seg = F.nll_loss(seg, label, ignore_index=-1)
    l_depth = torch.sum(torch.abs(dpred - depth) * dmask) / torch.nonzero(dmask).size(0)
    l_normal = 1 - torch.sum(npred * normal * nmask) / torch.nonzero(nmask).size(0)
    return torch.stack((l_seg, l_depth, l_normal))


def nash_weights(gram, iters=20):
    """alpha > 0 with alpha_i (M alpha)_i = 1: damped Newton on 0.5 a'Ma - sum log a."""
    k = gram.shape[0]
    scale = np.linalg.norm(gram)
    m = gram / scale
    a = np.ones(k) / np.sqrt(max(np.mean(np.diag(m)), 1e-12))
    for _ in range(iters):
        grad = m @ a - 1 / a
        hess = m + np.diag(1 / a ** 2)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while np.any(a - t * step <= 0):
            t *= 0.5
        a = a - t * step
        if np.linalg.norm(grad) < 1e-10:
            break
    return a / np.sqrt(scale)


def synthetic_batch(n, h, w, seed):
    rng = np.random.RandomState(seed)
    image = rng.uniform(0, 1, (n, 3, h, w)).astype(np.float32)
    label = rng.randint(-1, 13, (n, h, w)).astype(np.int64)
    depth = rng.uniform(0.5, 10, (n, 1, h, w)).astype(np.float32)
    normal = rng.normal(size=(n, 3, h, w))
    normal = (normal / np.linalg.norm(normal, axis=1, keepdims=True)).astype(np.float32)
    return image, label, depth, normal


def torch_bench(method, threads, steps, h, w, batch):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_models()(mtan=True)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    shared = [p for n, p in model.named_parameters() if "pred" not in n]
    image, label, depth, normal = (torch.from_numpy(x) for x in synthetic_batch(batch, h, w, 0))

    def step():
        opt.zero_grad()
        losses = torch_losses(model(image), label, depth, normal)
        if method == "ls":
            losses.sum().backward()
        else:
            grads = []
            for i in range(3):
                g = torch.autograd.grad(losses[i], shared, retain_graph=True)
                grads.append(torch.cat([x.flatten() for x in g]))
            jac = torch.stack(grads)
            gram = (jac @ jac.t()).double().numpy()
            alpha = torch.from_numpy(nash_weights(gram)).float()
            (alpha * losses).sum().backward()
            torch.nn.utils.clip_grad_norm_(shared, 1.0)
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    return float(np.median(times)), peak


# ---- ours --------------------------------------------------------------------

def write_layout(root, h, w, n_train, n_test):
    for split, n in (("train", n_train), ("val", n_test)):
        for i in range(n):
            image, label, depth, normal = synthetic_batch(1, h, w, 100 + i)
            fields = {
                "image": np.moveaxis(image[0], 0, -1),
                "label": label[0].astype(np.float32),
                "depth": np.moveaxis(depth[0], 0, -1),
                "normal": np.moveaxis(normal[0], 0, -1),
            }
            for name, x in fields.items():
                os.makedirs(os.path.join(root, split, name), exist_ok=True)
                np.save(os.path.join(root, split, name, f"{i}.npy"),
                        np.ascontiguousarray(x, dtype=np.float32))


def run_ours(build, method, data, out, batches, threads, batch, log):
    """Runs mtlhost; returns the times between consecutive progress lines (one per step)
    and the peak resident set in GB."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    cmd = [os.path.join(build, "mtlhost"), "--method", method, "--task", "nyuv2",
           "--set", f"task.data={data}", "--set", "train.epochs=1",
           "--set", f"train.batch_size={batch}",
           "--set", f"task.max_train_batches={batches}", "--set", "task.max_eval_batches=1",
           "--set", "task.augment=false", "--set", "output.figures=false",
           "--set", "output.checkpoint=false", "--set", "output.progress=lines",
           "--set", "output.progress_seconds=0", "--out", out]
    stamps = {}
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        t0 = time.perf_counter()
        for line in proc.stdout:
            f.write(line)
            m = re.search(r" batch (\d+)/(\d+) ", line)
            if m:
                stamps[int(m.group(1))] = time.perf_counter()
        _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        why = (f"killed by signal {os.WTERMSIG(status)} (9: out of memory?)"
               if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}")
        raise RuntimeError(f"{' '.join(cmd)}: {why}; see {log} (kept)")
    stamps[0] = t0
    steps = [stamps[b] - stamps[b - 1] for b in range(1, batches + 1)
             if b in stamps and b - 1 in stamps]
    return steps, usage.ru_maxrss / 1024 / 1024


def ours_bench(build, method, threads, steps, h, w, batch, tmp):
    data = os.path.join(tmp, "data")
    if not os.path.isdir(data):
        write_layout(data, h, w, batch * (steps + 2), batch)
    times, peak = run_ours(build, method, data, os.path.join(tmp, method), steps + 2, threads,
                           batch, os.path.join(tmp, f"{method}.log"))
    # steps 1 and 2 grow the arena and touch it consolidated; from the third on, steady state
    return float(np.median(times[2:])), peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--methods", default="ls,nashmtl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--height", type=int, default=288)
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--side", choices=["both", "ours", "torch"], default="both")
    ap.add_argument("--count", action="store_true")
    args = ap.parse_args()

    if args.count:
        net = torch_models()
        for name, mtan in (("SegNetMtan", True), ("SegNet (split)", False)):
            print(f"{name}: {sum(p.numel() for p in net(mtan).parameters())} parameters")
        return

    tmp = tempfile.mkdtemp(prefix="bench_nyuv2_")
    failed = False
    print(f"NYUv2 SegNet-MTAN step, {args.height} x {args.width}, batch {args.batch}, "
          f"{args.threads} threads; {args.steps} timed steps each")
    print(f"{'method':8} {'ours s/step':>12} {'ours GB':>8} {'torch s/step':>13} {'torch GB':>9} "
          f"{'speed-up':>9}")
    try:
        for method in args.methods.split(","):
            ours = torch_ = (float("nan"), float("nan"))
            if args.side in ("both", "ours"):
                try:
                    ours = ours_bench(args.build, method, args.threads, args.steps, args.height,
                                      args.width, args.batch, tmp)
                except RuntimeError as exc:
                    print(f"bench_nyuv2: {exc}", file=sys.stderr)
                    failed = True
            if args.side in ("both", "torch"):
                # a child process each, so that ru_maxrss is the method's own peak
                res = subprocess.run(
                    [sys.executable, __file__, "--torch-child", method, str(args.threads),
                     str(args.steps), str(args.height), str(args.width), str(args.batch)],
                    capture_output=True, text=True, check=True)
                torch_ = tuple(float(x) for x in res.stdout.split())
            print(f"{method:8} {ours[0]:12.2f} {ours[1]:8.2f} {torch_[0]:13.2f} {torch_[1]:9.2f} "
                  f"{torch_[0] / ours[0]:8.2f}x", flush=True)
    finally:
        if not failed:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--torch-child":
        m, th, st, hh, ww, bs = sys.argv[2:8]
        t, peak = torch_bench(m, int(th), int(st), int(hh), int(ww), int(bs))
        print(t, peak)
    else:
        main()
