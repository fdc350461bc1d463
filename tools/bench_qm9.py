#!/usr/bin/python3
"""Side-by-side speed of a QM9 training step: mtl (mtlhost + the qm9 plugin) against PyTorch + PyG.

    /usr/bin/python3 tools/bench_qm9.py [--mtlhost build/mtlhost] [--data data/qm9.mtlq]
                                        [--ls-batches 4] [--nash-batches 2] [--threads 2]

Both sides train the reference's model (experiments/qm9/model.h) on the SAME batches of the
full dataset: mtlhost runs first with task.write_batches=true, and the PyTorch side reads the
molecules of each batch from that list.  The first --warmup batches are run but not timed.

mtl: each method runs twice, with W and with W + P training batches (W warm-up, P timed, one
epoch, one molecule of evaluation); the time of the P batches is the difference of the two
runs' epoch times (metrics.jsonl), so loading the file and starting the process cancel out.
Peak memory is the maximum resident set of the longer run (the whole 76 MB dataset included).

PyTorch: a re-statement of the reference's model (NNConv(aggr='mean') with an edge network
5 -> 128 -> 4096, GRU, Set2Set, heads) and its step, in a separate process per method, with
torch.set_num_threads(THREADS):
  ls       sum of the 11 MSE losses, one backward pass, Adam;
  nashmtl  the reference's cost: 11 torch.autograd.grad passes over the shared parameters
           (retain_graph), the Gram matrix, the Nash solve, a backward pass of the weighted
           loss, a norm clip of the shared gradient at 1, Adam.  The reference solves with
           cvxpy + ECOS (up to 20 conic solves of an 11-dimensional problem); cvxpy is not
           installed here, so a damped Newton method in numpy stands in for it: both take
           milliseconds, against seconds for the gradients.
Peak memory is the process's maximum resident set (Python, PyTorch and the batches' graphs).

Set up the PyTorch side as tools/make_gnn_fixtures.py says (Debian python3-torch with
OpenBLAS, torch_geometric 2.3.1 from PyPI).  Prints a Markdown table; --out FILE also writes it.
"""

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

PROG = "bench_qm9"
TARGETS = [0, 1, 2, 3, 5, 6, 12, 13, 14, 15, 11]  # REFERENCE.md's task order, PyG's columns


def fail(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# The .mtlq file (experiments/qm9/DATA.md), read with numpy; mtlhost has validated it already.


def read_mtlq(path):
    import numpy as np

    with open(path, "rb") as f:
        blob = f.read()
    head = struct.unpack_from("<8sIIQQQII" + "QQ" * 8 + "Q", blob)
    if head[0] != b"MTLQM9\0\0" or head[1] != 1:
        fail(f"{path} is not a version-1 .mtlq file")
    off = head[8:24:2]
    n, atoms, bonds = head[3], head[4], head[5]

    def sec(k, dtype, count, width=None):
        a = np.frombuffer(blob, dtype=dtype, count=count * (width or 1), offset=off[k])
        return a.reshape(count, width) if width else a

    return {
        "atom_offsets": sec(0, "<u8", n + 1).astype(np.int64),
        "bond_offsets": sec(1, "<u8", n + 1).astype(np.int64),
        "pos": sec(3, "<f4", atoms, 3),
        "x": sec(4, "u1", atoms, 11),
        "bonds": sec(5, "u1", bonds, 3),
        "y": sec(6, "<f4", n, 19),
    }


# ---------------------------------------------------------------------------------------------
# mtl side


def run_mtlhost(args, method, n_batches, out_dir, write_batches):
    cmd = [
        args.mtlhost, "--method", method, "--task", "qm9",
        "--set", f"task.data={args.data}",
        "--set", "train.epochs=1",
        "--set", f"train.batch_size={args.batch_size}",
        "--set", f"train.seed={args.seed}",
        "--set", f"task.max_train_batches={n_batches}",
        "--set", "task.max_eval_molecules=1",
        "--set", f"task.write_batches={'true' if write_batches else 'false'}",
        "--set", "output.figures=false",
        "--out", out_dir,
    ]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads))
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if res.returncode != 0:
        fail(f"mtlhost failed ({' '.join(cmd)}):\n{res.stdout.decode(errors='replace')}")
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        seconds = json.loads(f.readline())["seconds"]
    return seconds


def bench_mtl(args, method, work):
    """Seconds of the P timed batches, the peak RSS (MB) and the batches file."""
    short_dir = os.path.join(work, f"mtl-{method}-short")
    long_dir = os.path.join(work, f"mtl-{method}-long")
    best = None
    peak = 0.0
    for _ in range(args.repeats):
        for d in (short_dir, long_dir):
            shutil.rmtree(d, ignore_errors=True)
        t_short = run_mtlhost(args, method, args.warmup, short_dir, False)
        # ru_maxrss of children is the maximum over all of them; run the long one in a
        # fresh helper process so that its peak is its own.
        t_long, rss = run_measured(args, method, args.warmup + args.timed[method], long_dir)
        dt = t_long - t_short
        best = dt if best is None or dt < best else best
        peak = max(peak, rss)
    return best, peak, os.path.join(long_dir, "qm9_train_batches.csv")


def run_measured(args, method, n_batches, out_dir):
    """Runs mtlhost through a helper that reports the child's own peak RSS."""
    cmd = [sys.executable, os.path.abspath(__file__), "--mtl-worker", method, "--worker-batches",
           str(n_batches), "--worker-out", out_dir] + forward_args(args)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        fail(f"mtl worker failed:\n{res.stdout}{res.stderr}")
    info = json.loads(res.stdout.strip().splitlines()[-1])
    return info["seconds"], info["peak_rss_mb"]


def mtl_worker(args):
    seconds = run_mtlhost(args, args.mtl_worker, args.worker_batches, args.worker_out, True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak}))


def read_batches(path):
    batches = {}
    with open(path) as f:
        next(f)
        for line in f:
            epoch, batch, mol, _ = line.split(",")
            if int(epoch) == 0:
                batches.setdefault(int(batch), []).append(int(mol))
    return [batches[b] for b in sorted(batches)]


# ---------------------------------------------------------------------------------------------
# PyTorch side


def torch_worker(args):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch.nn import GRU, Linear, ReLU, Sequential
    from torch_geometric.data import Batch, Data
    from torch_geometric.nn import NNConv, Set2Set

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ds = read_mtlq(args.data)
    batches = read_batches(args.batches)[: args.warmup + args.timed[args.torch_worker]]

    y_all = ds["y"][:, TARGETS].astype(np.float64)
    mean, std = y_all.mean(0), y_all.std(0, ddof=1)  # only for sensible loss values

    def molecule(m):
        """One molecule as the reference's pipeline gives it: bonds in both directions with
        one-hot types, then the complete graph without self loops, then the distance."""
        a0, a1 = ds["atom_offsets"][m], ds["atom_offsets"][m + 1]
        b0, b1 = ds["bond_offsets"][m], ds["bond_offsets"][m + 1]
        n = int(a1 - a0)
        pos = torch.from_numpy(ds["pos"][a0:a1].copy())
        bonds = ds["bonds"][b0:b1].astype(np.int64)
        # The complete graph, source-major, with the bond types scattered onto its pairs.
        src = torch.arange(n).repeat_interleave(n)
        dst = torch.arange(n).repeat(n)
        attr = torch.zeros(n * n, 4)
        for i, j, t in bonds:
            attr[i * n + j, t] = 1.0
            attr[j * n + i, t] = 1.0
        keep = src != dst
        src, dst, attr = src[keep], dst[keep], attr[keep]
        dist = (pos[dst] - pos[src]).norm(dim=-1, keepdim=True)
        y = (torch.from_numpy(y_all[m]) - torch.from_numpy(mean)) / torch.from_numpy(std)
        return Data(x=torch.from_numpy(ds["x"][a0:a1].astype(np.float32)),
                    edge_index=torch.stack([src, dst]), edge_attr=torch.cat([attr, dist], 1),
                    pos=pos, y=y.float().view(1, -1))

    data = [Batch.from_data_list([molecule(m) for m in b]) for b in batches]

    class Net(torch.nn.Module):
        """The reference's QM9 network (experiments/qm9/model.h)."""

        def __init__(self, dim=64, k=len(TARGETS)):
            super().__init__()
            self.lin0 = Linear(11, dim)
            edge_net = Sequential(Linear(5, 128), ReLU(), Linear(128, dim * dim))
            self.conv = NNConv(dim, dim, edge_net, aggr="mean")
            self.gru = GRU(dim, dim)
            self.set2set = Set2Set(dim, processing_steps=3)
            self.lin1 = Linear(2 * dim, dim)
            self.heads = torch.nn.ModuleList([Linear(dim, 1) for _ in range(k)])

        def shared(self):
            return [p for name, p in self.named_parameters() if not name.startswith("heads.")]

        def forward(self, batch):
            out = F.relu(self.lin0(batch.x))
            h = out.unsqueeze(0)
            for _ in range(3):
                m = F.relu(self.conv(out, batch.edge_index, batch.edge_attr))
                out, h = self.gru(m.unsqueeze(0), h)
                out = out.squeeze(0)
            rep = F.relu(self.lin1(self.set2set(out, batch.batch)))
            return torch.cat([head(rep) for head in self.heads], dim=1), rep

    def nash_alpha(gram, alpha):
        """alpha > 0 with alpha_i (M alpha)_i = 1: damped Newton on 0.5 a'Ma - sum log a."""
        for _ in range(50):
            grad = gram @ alpha - 1.0 / alpha
            if np.linalg.norm(grad) < 1e-9:
                break
            step = np.linalg.solve(gram + np.diag(1.0 / alpha**2), grad)
            t = 1.0
            while np.any(alpha - t * step <= 0):
                t *= 0.5
            alpha = alpha - t * step
        return alpha

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    shared = model.shared()
    alpha = np.ones(len(TARGETS))
    times = []
    for i, batch in enumerate(data):
        t0 = time.perf_counter()
        opt.zero_grad()
        out, _ = model(batch)
        losses = F.mse_loss(out, batch.y, reduction="none").mean(0)
        if args.torch_worker == "ls":
            losses.sum().backward()
        else:
            grads = []
            for li in losses:
                g = torch.autograd.grad(li, shared, retain_graph=True)
                grads.append(torch.cat([x.flatten() for x in g]))
            G = torch.stack(grads)
            GTG = G @ G.t()
            norm = torch.norm(GTG).item()
            alpha = nash_alpha((GTG / norm).double().numpy(), alpha)
            w = torch.from_numpy(alpha / np.sqrt(norm)).float()
            (losses * w).sum().backward()
            torch.nn.utils.clip_grad_norm_(shared, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        print(f"{PROG}: torch {args.torch_worker} batch {i}: {times[-1]:.2f} s", file=sys.stderr)

    timed = times[args.warmup:]
    mols = sum(len(b) for b in batches[args.warmup:])
    atoms = sum(int(ds["atom_offsets"][m + 1] - ds["atom_offsets"][m])
                for b in batches[args.warmup:] for m in b)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": sum(timed), "steps": timed, "molecules": mols, "atoms": atoms,
                      "peak_rss_mb": peak, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


def bench_torch(args, method, batches_path):
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", method,
           "--batches", batches_path] + forward_args(args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    sys.stderr.write(res.stderr)
    if res.returncode != 0:
        fail(f"PyTorch worker failed:\n{res.stdout}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------


def forward_args(args):
    return ["--mtlhost", args.mtlhost, "--data", args.data, "--batch-size", str(args.batch_size),
            "--threads", str(args.threads), "--seed", str(args.seed), "--warmup", str(args.warmup),
            "--ls-batches", str(args.timed["ls"]), "--nash-batches", str(args.timed["nashmtl"])]


def parse_args(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--mtlhost", default=os.path.join(root, "build", "mtlhost"))
    p.add_argument("--data", default=os.path.join(root, "data", "qm9.mtlq"))
    p.add_argument("--batch-size", type=int, default=120)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=1, help="untimed batches first (both sides)")
    p.add_argument("--ls-batches", type=int, default=4, help="timed batches of ls")
    p.add_argument("--nash-batches", type=int, default=2, help="timed batches of nashmtl")
    p.add_argument("--repeats", type=int, default=2, help="mtl runs per method (best is kept)")
    p.add_argument("--methods", default="ls,nashmtl")
    p.add_argument("--out", help="also write the Markdown table here")
    p.add_argument("--torch-worker", help=argparse.SUPPRESS)
    p.add_argument("--mtl-worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-batches", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    p.add_argument("--batches", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.timed = {"ls": args.ls_batches, "nashmtl": args.nash_batches}
    args.mtlhost = os.path.abspath(args.mtlhost)
    args.data = os.path.abspath(args.data)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.torch_worker:
        return torch_worker(args)
    if args.mtl_worker:
        return mtl_worker(args)
    if not os.access(args.mtlhost, os.X_OK):
        fail(f"no mtlhost at {args.mtlhost} (build it, or pass --mtlhost)")
    if not os.path.exists(args.data):
        fail(f"no dataset at {args.data}: python3 tools/qm9_prepare.py --out data/qm9.mtlq")

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_qm9_") as work:
        for method in args.methods.split(","):
            print(f"{PROG}: {method}: mtl ...", file=sys.stderr)
            mtl_s, mtl_rss, batches = bench_mtl(args, method, work)
            print(f"{PROG}: {method}: PyTorch ...", file=sys.stderr)
            t = bench_torch(args, method, batches)
            mols, nb = t["molecules"], args.timed[method]
            step_o = mtl_s / nb
            step_t, step_t_mean = min(t["steps"]), t["seconds"] / nb
            rows.append((method, nb, mols, t["atoms"] / mols, step_o, step_t, step_t_mean,
                         mols / nb / step_o, mols / nb / step_t, step_t / step_o, mtl_rss,
                         t["peak_rss_mb"]))
            torch_version = t["torch"]

    lines = [
        f"QM9 training step, batch {args.batch_size}, {args.threads} threads each side, "
        f"{args.warmup} warm-up batch(es) then the same timed batches on both sides; "
        f"PyTorch {torch_version} + PyG.  mtl s/step: best of {args.repeats} runs of the timed "
        "batches; PyTorch s/step: its fastest timed step (mean in brackets); the speed-up "
        "compares the two best figures.",
        "",
        "| method | timed batches | molecules | atoms/molecule | mtl s/step | PyTorch s/step "
        "| mtl molecules/s | PyTorch molecules/s | speed-up | mtl peak RSS | PyTorch peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (m, nb, mols, apm, step_o, step_t, step_tm, ours, theirs, ratio, rss_o, rss_t) in rows:
        lines.append(f"| {m} | {nb} | {mols} | {apm:.1f} | {step_o:.2f} | {step_t:.2f} "
                     f"({step_tm:.2f}) | {ours:.1f} | {theirs:.1f} | {ratio:.1f}x | "
                     f"{rss_o:.0f} MB | {rss_t:.0f} MB |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
