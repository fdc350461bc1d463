#!/usr/bin/python3
"""Writes the PyTorch / PyTorch Geometric reference values of the QM9 model's layers.

The C tests in tests/gnn/ load these files, copy the inputs and the parameters into
their own tensors, run the same layer forward and backward, and compare with the
outputs and gradients stored here.  CI has no PyTorch, so the files are committed;
rerun this script only when a layer or its test changes.

Set up (Debian bookworm, the interpreter /usr/bin/python3):

    apt-get install -y python3-torch python3-pip          # PyTorch 1.13.1
    /usr/bin/python3 -m pip install --break-system-packages torch_geometric==2.3.1

Run from the repository root:

    /usr/bin/python3 tools/make_gnn_fixtures.py [OUT_DIR]  # default tests/gnn/fixtures

File format (one file per layer, plain text):

    # comment lines start with '#'
    tensor NAME NDIM D0 D1 ...
    V0 V1 V2 ...            values in row-major order, '%.9g', eight per line

Index arrays (edge sources, batch vectors) are stored as tensors of integral
values.  Every gradient is that of L = sum_k <y_k, dy_k> over the layer's outputs
y_k, where the cotangents dy_k are stored too (named "d" + the output's name).
Inputs are drawn in float32 and the reference is computed in float64 from them,
so the stored outputs are the exact answer up to the last digit printed; the C
side, in float32, is compared with them.
"""

import os
import sys

import torch
import torch_geometric
from torch_geometric.nn import NNConv, Set2Set
from torch_geometric.utils import scatter

torch.set_default_dtype(torch.float64)


def f32(t):
    """The float64 tensor of t's float32 rounding (inputs the C side can hold exactly)."""
    return t.float().double()


def randn(*shape, scale=1.0):
    return f32(torch.randn(*shape) * scale)


def away_from_zero(t, gap=0.05):
    """Moves values out of (-gap, gap) so that ReLU kinks stay out of reach of FD steps."""
    return f32(torch.where(t.abs() < gap, t.sign() * gap + t, t))


class Writer:
    def __init__(self, path, title):
        self.path = path
        self.lines = [
            f"# {title}",
            f"# written by tools/make_gnn_fixtures.py (torch {torch.__version__}, "
            f"torch_geometric {torch_geometric.__version__})",
        ]

    def add(self, name, t):
        t = t.detach().to(torch.float64).contiguous()
        shape = list(t.shape)
        self.lines.append(f"tensor {name} {len(shape)} " + " ".join(str(d) for d in shape))
        vals = t.reshape(-1).tolist()
        for i in range(0, len(vals), 8):
            self.lines.append(" ".join("%.9g" % v for v in vals[i : i + 8]))
        if not vals:
            self.lines.append("")

    def close(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print("wrote", self.path)


def backprop(outputs, cotangents):
    loss = sum((y * dy).sum() for y, dy in zip(outputs, cotangents))
    loss.backward()


def params_of(module, prefix, w):
    for name, p in module.named_parameters():
        w.add(prefix + name, p)


def grads_of(module, prefix, w):
    for name, p in module.named_parameters():
        w.add("d" + prefix + name, p.grad)


def randomize(module, scale=0.5):
    """Draws every parameter from N(0, scale^2) in float32 (no zero biases)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(randn(*p.shape, scale=scale))


def fixture_linear(out):
    torch.manual_seed(1)
    lin = torch.nn.Linear(7, 4)
    randomize(lin)
    x = randn(5, 7).requires_grad_()
    y = lin(x)
    dy = randn(*y.shape)
    backprop([y], [dy])

    w = Writer(os.path.join(out, "linear.txt"), "torch.nn.Linear(7, 4): y = x W^T + b")
    w.add("x", x)
    params_of(lin, "", w)
    w.add("y", y)
    w.add("dy", dy)
    w.add("dx", x.grad)
    grads_of(lin, "", w)
    w.close()


def fixture_cat_relu_mse(out):
    torch.manual_seed(2)
    a = away_from_zero(randn(4, 3)).requires_grad_()
    b = away_from_zero(randn(4, 2)).requires_grad_()
    target = randn(4, 5)
    c = torch.cat([a, b], dim=-1)
    r = torch.relu(c)
    loss = torch.nn.functional.mse_loss(r, target)
    loss.backward()

    w = Writer(
        os.path.join(out, "cat_relu_mse.txt"),
        "loss = mse_loss(relu(cat([a, b], -1)), target), reduction mean; grads of loss",
    )
    w.add("a", a)
    w.add("b", b)
    w.add("target", target)
    w.add("cat", c)
    w.add("relu", r)
    w.add("loss", loss)
    w.add("da", a.grad)
    w.add("db", b.grad)
    w.close()


def fixture_gather_scatter_mean(out):
    torch.manual_seed(3)
    n = 6
    x = randn(n, 3).requires_grad_()
    # Node 4 receives no edge (its mean is 0); node 1 receives three.
    src = torch.tensor([0, 2, 5, 1, 3, 3, 0, 5, 2])
    dst = torch.tensor([1, 0, 1, 3, 2, 5, 1, 0, 3])
    gathered = x[src]
    y = scatter(gathered, dst, dim=0, dim_size=n, reduce="mean")
    dy = randn(*y.shape)
    backprop([y], [dy])

    w = Writer(
        os.path.join(out, "gather_scatter_mean.txt"),
        "y = scatter(x[src], dst, dim=0, dim_size=6, reduce='mean')",
    )
    w.add("x", x)
    w.add("src", src)
    w.add("dst", dst)
    w.add("gathered", gathered)
    w.add("y", y)
    w.add("dy", dy)
    w.add("dx", x.grad)
    w.close()


def nnconv_graph():
    """Two graphs: nodes 0-3 complete, nodes 4-6 with node 6 receiving nothing; shuffled."""
    edges = [(j, i) for i in range(4) for j in range(4) if i != j]
    edges += [(4, 5), (5, 4), (6, 4), (6, 5)]
    perm = torch.randperm(len(edges)).tolist()
    edges = [edges[p] for p in perm]
    return torch.tensor(edges).t().contiguous()


def fixture_nnconv(out):
    torch.manual_seed(4)
    n, f_in, f_out, f_edge, hidden = 7, 4, 3, 5, 6
    edge_net = torch.nn.Sequential(
        torch.nn.Linear(f_edge, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, f_in * f_out)
    )
    conv = NNConv(f_in, f_out, edge_net, aggr="mean")
    randomize(conv)
    edge_index = nnconv_graph()
    x = randn(n, f_in).requires_grad_()
    edge_attr = randn(edge_index.shape[1], f_edge).requires_grad_()

    # PyG's own forward is the reference; a hook keeps the edge network's hidden layer
    # (after the ReLU) and its gradient, for the C op that takes the hidden layer as input.
    hook = {}

    def keep_hidden(_m, _inp, outp):
        outp.retain_grad()
        hook["h"] = outp

    handle = edge_net[1].register_forward_hook(keep_hidden)
    y = conv(x, edge_index, edge_attr)
    handle.remove()
    dy = randn(*y.shape)
    backprop([y], [dy])

    w = Writer(
        os.path.join(out, "nnconv.txt"),
        "torch_geometric.nn.NNConv(4, 3, Sequential(Linear(5, 6), ReLU(), Linear(6, 12)), "
        "aggr='mean'); edge_index rows: src (j), dst (i)",
    )
    w.add("x", x)
    w.add("edge_src", edge_index[0])
    w.add("edge_dst", edge_index[1])
    w.add("edge_attr", edge_attr)
    params_of(conv, "", w)
    w.add("hidden", hook["h"])
    w.add("y", y)
    w.add("dy", dy)
    w.add("dx", x.grad)
    w.add("dedge_attr", edge_attr.grad)
    w.add("dhidden", hook["h"].grad)
    grads_of(conv, "", w)
    w.close()


def fixture_gru(out):
    torch.manual_seed(5)
    gru = torch.nn.GRU(4, 3)
    randomize(gru)
    x = randn(5, 4).requires_grad_()
    h = randn(5, 3).requires_grad_()
    y, _ = gru(x.unsqueeze(0), h.unsqueeze(0))
    y = y.squeeze(0)
    dy = randn(*y.shape)
    backprop([y], [dy])

    w = Writer(os.path.join(out, "gru.txt"), "torch.nn.GRU(4, 3), one step (gates r, z, n)")
    w.add("x", x)
    w.add("h", h)
    params_of(gru, "", w)
    w.add("y", y)
    w.add("dy", dy)
    w.add("dx", x.grad)
    w.add("dh", h.grad)
    grads_of(gru, "", w)
    w.close()


def fixture_lstm(out):
    torch.manual_seed(6)
    lstm = torch.nn.LSTM(4, 3)
    randomize(lstm)
    x = randn(5, 4).requires_grad_()
    h = randn(5, 3).requires_grad_()
    c = randn(5, 3).requires_grad_()
    _, (h1, c1) = lstm(x.unsqueeze(0), (h.unsqueeze(0), c.unsqueeze(0)))
    h1, c1 = h1.squeeze(0), c1.squeeze(0)
    dh1, dc1 = randn(*h1.shape), randn(*c1.shape)
    backprop([h1, c1], [dh1, dc1])

    w = Writer(os.path.join(out, "lstm.txt"), "torch.nn.LSTM(4, 3), one step (gates i, f, g, o)")
    w.add("x", x)
    w.add("h", h)
    w.add("c", c)
    params_of(lstm, "", w)
    w.add("h_out", h1)
    w.add("c_out", c1)
    w.add("dh_out", dh1)
    w.add("dc_out", dc1)
    w.add("dx", x.grad)
    w.add("dh", h.grad)
    w.add("dc", c.grad)
    grads_of(lstm, "", w)
    w.close()


def fixture_set2set(out):
    torch.manual_seed(7)
    s2s = Set2Set(3, processing_steps=3)
    randomize(s2s)
    # Four graphs, nodes not sorted by graph, graph 3 empty (PyG gives it r = 0).
    batch = torch.tensor([0, 0, 1, 2, 1, 0, 2, 2])
    x = randn(8, 3).requires_grad_()
    y = s2s(x, batch, dim_size=4)
    dy = randn(*y.shape)
    backprop([y], [dy])

    w = Writer(
        os.path.join(out, "set2set.txt"),
        "torch_geometric.nn.Set2Set(3, processing_steps=3), 4 graphs (graph 3 empty)",
    )
    w.add("x", x)
    w.add("batch", batch)
    params_of(s2s, "", w)
    w.add("y", y)
    w.add("dy", dy)
    w.add("dx", x.grad)
    grads_of(s2s, "", w)
    w.close()


class QM9Net(torch.nn.Module):
    """The reference QM9 model (nash-mtl experiments/quantum_chemistry), narrower."""

    def __init__(self, n_tasks, num_features, dim, edge_dim, edge_hidden):
        super().__init__()
        self.lin0 = torch.nn.Linear(num_features, dim)
        edge_net = torch.nn.Sequential(
            torch.nn.Linear(edge_dim, edge_hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(edge_hidden, dim * dim),
        )
        self.conv = NNConv(dim, dim, edge_net, aggr="mean")
        self.gru = torch.nn.GRU(dim, dim)
        self.set2set = Set2Set(dim, processing_steps=3)
        self.lin1 = torch.nn.Linear(2 * dim, dim)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(dim, 1) for _ in range(n_tasks)])

    def forward(self, x, edge_index, edge_attr, batch, n_graphs):
        out = torch.relu(self.lin0(x))
        h = out.unsqueeze(0)
        for _ in range(3):
            m = torch.relu(self.conv(out, edge_index, edge_attr))
            out, h = self.gru(m.unsqueeze(0), h)
            out = out.squeeze(0)
        out = self.set2set(out, batch, dim_size=n_graphs)
        features = torch.relu(self.lin1(out))
        return features, torch.cat([head(features) for head in self.heads], dim=1)


def fixture_qm9_net(out):
    torch.manual_seed(8)
    n_tasks, sizes = 2, [3, 4]
    net = QM9Net(n_tasks, num_features=11, dim=4, edge_dim=5, edge_hidden=8)
    randomize(net)
    # Complete graphs without self loops, edges sorted by source (PyG's QM9 layout).
    edges, batch, first = [], [], 0
    for g, n in enumerate(sizes):
        edges += [(first + j, first + i) for j in range(n) for i in range(n) if i != j]
        batch += [g] * n
        first += n
    edge_index = torch.tensor(edges).t().contiguous()
    batch = torch.tensor(batch)
    x = randn(first, 11)
    edge_attr = randn(edge_index.shape[1], 5)
    target = randn(len(sizes), n_tasks)
    weights = torch.tensor([0.7, 1.3])
    features, pred = net(x, edge_index, edge_attr, batch, len(sizes))
    losses = torch.stack(
        [torch.nn.functional.mse_loss(pred[:, t], target[:, t]) for t in range(n_tasks)]
    )
    (weights * losses).sum().backward()

    w = Writer(
        os.path.join(out, "qm9_net.txt"),
        "the reference QM9 model (lin0, 3 x (relu(NNConv) + GRU), Set2Set(3), lin1, heads) "
        "with dim 4 and edge-network hidden 8; grads of sum_t weights[t] * mse_t",
    )
    w.add("x", x)
    w.add("edge_src", edge_index[0])
    w.add("edge_dst", edge_index[1])
    w.add("edge_attr", edge_attr)
    w.add("batch", batch)
    w.add("target", target)
    w.add("weights", weights)
    params_of(net, "", w)
    w.add("features", features)
    w.add("pred", pred)
    w.add("losses", losses)
    grads_of(net, "", w)
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "gnn", "fixtures")
    os.makedirs(out, exist_ok=True)
    fixture_linear(out)
    fixture_cat_relu_mse(out)
    fixture_gather_scatter_mean(out)
    fixture_nnconv(out)
    fixture_gru(out)
    fixture_lstm(out)
    fixture_set2set(out)
    fixture_qm9_net(out)


if __name__ == "__main__":
    main()
