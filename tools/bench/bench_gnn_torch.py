#!/usr/bin/python3
"""The PyTorch / PyG side of tools/bench/bench_gnn.c: the same synthetic batch and steps.

    /usr/bin/python3 tools/bench/bench_gnn_torch.py [MOLECULES [ATOMS [REPEATS]]]

Needs PyTorch and PyG as in tools/make_gnn_fixtures.py, and libopenblas0-pthread
(without it Debian's PyTorch falls back to a generic BLAS, PERFORMANCE.md).  Runs on
the CPU with 2 threads; prints the same lines as bench_gnn, best of REPEATS after one
warm-up, so the two outputs can be read side by side.
"""

import sys
import time

import torch
from torch_geometric.nn import NNConv

DIM, EDGE, HIDDEN = 64, 5, 128


def make_batch(molecules, atoms, gen):
    src, dst = [], []
    for mol in range(molecules):
        base = mol * atoms
        for j in range(atoms):
            for i in range(atoms):
                if i != j:
                    src.append(base + j)
                    dst.append(base + i)
    edge_index = torch.tensor([src, dst])
    nodes = molecules * atoms
    x = torch.rand(nodes, DIM, generator=gen) * 2 - 1
    edge_attr = torch.rand(len(src), EDGE, generator=gen) * 2 - 1
    r = torch.rand(nodes, DIM, generator=gen) * 2 - 1
    return x, edge_index, edge_attr, r


def step(conv, gru, batch, rounds, backward):
    x, edge_index, edge_attr, r = batch
    t0 = time.perf_counter()
    with torch.set_grad_enabled(backward):
        out = x
        h = out.unsqueeze(0)
        for _ in range(rounds):
            m = torch.relu(conv(out, edge_index, edge_attr))
            out, h = gru(m.unsqueeze(0), h)
            out = out.squeeze(0)
        loss = (out * r).sum()
        if backward:
            conv.zero_grad()
            gru.zero_grad()
            loss.backward()
    return time.perf_counter() - t0


def best_of(repeats, *args):
    step(*args)
    return min(step(*args) for _ in range(repeats))


def main():
    molecules = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    atoms = int(sys.argv[2]) if len(sys.argv) > 2 else 18
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(2022)
    torch.manual_seed(2022)
    edge_net = torch.nn.Sequential(
        torch.nn.Linear(EDGE, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, DIM * DIM)
    )
    conv = NNConv(DIM, DIM, edge_net, aggr="mean")
    gru = torch.nn.GRU(DIM, DIM)
    batch = make_batch(molecules, atoms, gen)

    t_fwd1 = best_of(repeats, conv, gru, batch, 1, False)
    t_step1 = best_of(repeats, conv, gru, batch, 1, True)
    t_step3 = best_of(repeats, conv, gru, batch, 3, True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch: {molecules} "
          f"molecules x {atoms} atoms, {batch[1].shape[1]} edges")
    print(f"one round NNConv + GRU, forward                {1e3 * t_fwd1:8.2f} ms")
    print(f"one round NNConv + GRU, forward + backward     {1e3 * t_step1:8.2f} ms")
    print(f"three rounds, forward + backward (the edge network runs each round) "
          f"{1e3 * t_step3:8.2f} ms, {molecules / t_step3:.1f} molecules/s of this part")


if __name__ == "__main__":
    main()
