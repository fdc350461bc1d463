#!/usr/bin/python3
"""Writes PyTorch's values of the convolutional ops (mtl/conv.h) for tests/conv/.

Each fixture runs one op (or a short chain, as a SegNet-MTAN block uses it) in
PyTorch, and stores its inputs, parameters, outputs and the gradients of
L = sum(y * dy) for a stored random cotangent dy (losses: of the loss itself).
The C tests read the files, run our op on the same values and compare.  CI has
no PyTorch, so the files are committed; rerun this script only when an op or its
test changes.

Set up (Debian bookworm, the interpreter /usr/bin/python3):

    apt-get install -y python3-torch          # PyTorch 1.13.1

Run from the repository root:

    /usr/bin/python3 tools/make_conv_fixtures.py [OUT_DIR]   # default tests/conv/fixtures

File format (one file per fixture, plain text):

    # comment lines start with '#'
    tensor NAME NDIM D0 D1 ...
    V0 V1 V2 ...            values in row-major order, '%.9g', eight per line

Integer data (pooling indices, class labels) are stored as tensors of integral
values.  Inputs are drawn in float32 and, unless a fixture says otherwise, the
reference is computed in float64 from them, so the stored outputs are exact up to
the printed digits and the float32 C results are compared against them.  The
nearest resize is computed in float32: it only moves values, and its index rule
must be evaluated in float32 exactly as PyTorch does it for float32 images.
"""

import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def f32(t):
    """The float64 tensor of t's float32 rounding (values the C side holds exactly)."""
    return t.float().double()


def randn(*shape, scale=1.0):
    return f32(torch.randn(*shape) * scale)


def away_from_zero(t, gap=0.05):
    """Moves values out of (-gap, gap), keeping ReLU and |u| kinks far from the data."""
    return f32(torch.where(t.abs() < gap, t.sign() * gap + t, t))


class Fixture:
    """One fixture file: a title, then named tensors in the order they are added."""

    def __init__(self, out_dir, name, title):
        self.path = os.path.join(out_dir, name + ".txt")
        self.lines = [f"# {title}", f"# written by tools/make_conv_fixtures.py (torch {torch.__version__})"]

    def put(self, name, t):
        t = torch.as_tensor(t).detach().to(torch.float64).contiguous()
        dims = list(t.shape)
        self.lines.append(" ".join(["tensor", name, str(len(dims))] + [str(d) for d in dims]))
        flat = t.reshape(-1).tolist()
        for start in range(0, len(flat), 8):
            self.lines.append(" ".join("%.9g" % v for v in flat[start : start + 8]))

    def save(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print("wrote", self.path)


def backward_of(y, dy):
    (y * dy).sum().backward()


# ---- convolution -------------------------------------------------------------------


def conv_fixture(out, name, n, c, h, w, o, k, stride, pad, seed):
    torch.manual_seed(seed)
    x = randn(n, c, h, w).requires_grad_()
    weight = randn(o, c, k, k, scale=0.5).requires_grad_()
    bias = randn(o, scale=0.5).requires_grad_()
    y = F.conv2d(x, weight, bias, stride=stride, padding=pad)
    dy = randn(*y.shape)
    backward_of(y, dy)

    fx = Fixture(out, name, f"y = conv2d(x, weight, bias, stride={stride}, padding={pad})")
    fx.put("stride", torch.tensor(float(stride)))
    fx.put("padding", torch.tensor(float(pad)))
    for key, t in [("x", x), ("weight", weight), ("bias", bias), ("y", y), ("dy", dy)]:
        fx.put(key, t)
    for key, t in [("dx", x), ("dweight", weight), ("dbias", bias)]:
        fx.put(key, t.grad)
    fx.save()


# ---- batch normalisation ----------------------------------------------------------------


def batch_norm_fixture(out, name, shape, training, seed):
    torch.manual_seed(seed)
    c = shape[1]
    x = randn(*shape, scale=2.0).add(0.5).requires_grad_()
    weight = randn(c, scale=0.5).add(1.0).requires_grad_()
    bias = randn(c, scale=0.5).requires_grad_()
    running_mean = randn(c, scale=0.3)
    running_var = f32(torch.rand(c) + 0.5)
    rm, rv = running_mean.clone(), running_var.clone()
    y = F.batch_norm(x, rm, rv, weight, bias, training=training, momentum=0.1, eps=1e-5)
    dy = randn(*y.shape)
    backward_of(y, dy)

    mode = "training" if training else "evaluation"
    fx = Fixture(out, name, f"y = batch_norm(x, ..., training={training}, momentum=0.1, eps=1e-5) ({mode})")
    for key, t in [("x", x), ("weight", weight), ("bias", bias)]:
        fx.put(key, t)
    fx.put("running_mean", running_mean)
    fx.put("running_var", running_var)
    fx.put("y", y)
    fx.put("running_mean_after", rm)
    fx.put("running_var_after", rv)
    fx.put("dy", dy)
    for key, t in [("dx", x), ("dweight", weight), ("dbias", bias)]:
        fx.put(key, t.grad)
    fx.save()


# ---- pooling, resizing ----------------------------------------------------------------------


def pool_fixture(out):
    torch.manual_seed(20)
    x = randn(2, 3, 6, 7).requires_grad_()
    y, idx = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
    dy = randn(*y.shape)
    backward_of(y, dy)
    z = randn(*y.shape).requires_grad_()
    u = F.max_unpool2d(z, idx, kernel_size=2, stride=2, output_size=x.shape[2:])
    du = randn(*u.shape)
    backward_of(u, du)

    fx = Fixture(out, "max_pool", "y, idx = max_pool2d(x, 2, 2, return_indices=True); u = max_unpool2d(z, idx, 2, 2, output_size=x's)")
    for key, t in [("x", x), ("y", y), ("indices", idx.double()), ("dy", dy), ("dx", x.grad)]:
        fx.put(key, t)
    for key, t in [("z", z), ("u", u), ("du", du), ("dz", z.grad)]:
        fx.put(key, t)
    fx.save()


def resize_fixture(out, mode, sizes, seed):
    torch.manual_seed(seed)
    fx = Fixture(out, "resize_" + mode, f"y_k = interpolate(x, size=size_k, mode={mode!r}" + (", align_corners=True)" if mode == "bilinear" else ")"))
    x = randn(2, 2, 5, 7)
    fx.put("x", x)
    for k, size in enumerate(sizes):
        if mode == "bilinear":
            xk = x.clone().requires_grad_()
            y = F.interpolate(xk, size=size, mode="bilinear", align_corners=True)
        else:
            # float32, as PyTorch evaluates the index rule for float32 images
            xk = x.float().clone().requires_grad_()
            y = F.interpolate(xk, size=size, mode="nearest")
        dy = randn(*y.shape)
        backward_of(y, dy.to(y.dtype))
        fx.put(f"size{k}", torch.tensor([float(size[0]), float(size[1])]))
        fx.put(f"y{k}", y)
        fx.put(f"dy{k}", dy)
        fx.put(f"dx{k}", xk.grad)
    fx.save()


# ---- losses ----------------------------------------------------------------------------------


def nll_fixture(out, name, shape, seed):
    torch.manual_seed(seed)
    n, c = shape[0], shape[1]
    x = randn(*shape, scale=2.0).requires_grad_()
    target_shape = (n,) + tuple(shape[2:])
    target = torch.randint(0, c, target_shape)
    target[torch.rand(target_shape) < 0.25] = -1
    logp = F.log_softmax(x, dim=1)
    logp.retain_grad()
    loss = F.nll_loss(logp, target, ignore_index=-1)
    loss.backward()

    fx = Fixture(out, name, "logp = log_softmax(x, dim=1); loss = nll_loss(logp, target, ignore_index=-1); grads of loss")
    fx.put("x", x)
    fx.put("target", target.double())
    fx.put("logp", logp)
    fx.put("loss", loss)
    fx.put("dlogp", logp.grad)
    fx.put("dx", x.grad)
    fx.save()


def depth_fixture(out):
    torch.manual_seed(40)
    pred = randn(2, 1, 4, 5).requires_grad_()
    target = f32(torch.rand(2, 1, 4, 5) * 3 + 0.5)
    target[torch.rand(2, 1, 4, 5) < 0.3] = 0.0
    # the MTAN / Nash-MTL depth loss, verbatim in meaning
    mask = (torch.sum(target, dim=1) != 0).double().unsqueeze(1)
    loss = torch.sum(torch.abs(pred - target) * mask) / torch.nonzero(mask, as_tuple=False).size(0)
    loss.backward()

    fx = Fixture(out, "masked_l1", "loss = sum(|pred - target| * mask) / count(mask), mask = sum_c(target) != 0")
    for key, t in [("pred", pred), ("target", target), ("loss", loss), ("dpred", pred.grad)]:
        fx.put(key, t)
    fx.save()


def normal_fixture(out):
    torch.manual_seed(41)
    x = randn(2, 3, 4, 5).requires_grad_()
    target = F.normalize(randn(2, 3, 4, 5), dim=1)
    target = f32(target)
    hole = torch.rand(2, 1, 4, 5) < 0.3
    target = target.masked_fill(hole, 0.0)
    y = x / torch.norm(x, p=2, dim=1, keepdim=True)
    y.retain_grad()
    mask = (torch.sum(target, dim=1) != 0).double().unsqueeze(1)
    loss = 1 - torch.sum((y * target) * mask) / torch.nonzero(mask, as_tuple=False).size(0)
    loss.backward()

    fx = Fixture(out, "normals", "y = x / norm(x, dim=1); loss = 1 - sum(y target mask) / count(mask)")
    for key, t in [("x", x), ("target", target), ("y", y), ("loss", loss), ("dy", y.grad), ("dx", x.grad)]:
        fx.put(key, t)
    fx.save()


# ---- an MTAN attention block ------------------------------------------------------------------


def attention_fixture(out):
    """atten = sigmoid(bn2(conv2(relu(bn1(conv1(cat(a, b)))))))  (1 x 1 convs); y = atten * f"""
    torch.manual_seed(50)
    a = randn(2, 3, 4, 6).requires_grad_()
    b = randn(2, 2, 4, 6).requires_grad_()
    f = randn(2, 4, 4, 6).requires_grad_()
    conv1 = torch.nn.Conv2d(5, 4, 1)
    bn1 = torch.nn.BatchNorm2d(4)
    conv2 = torch.nn.Conv2d(4, 4, 1)
    bn2 = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for mod in (conv1, bn1, conv2, bn2):
            for p in mod.parameters():
                p.copy_(randn(*p.shape, scale=0.5) + (1.0 if p.dim() == 1 and mod in (bn1, bn2) else 0.0))
    h = torch.relu(bn1(conv1(torch.cat((a, b), dim=1))))
    atten = torch.sigmoid(bn2(conv2(h)))
    y = atten * f
    dy = randn(*y.shape)
    backward_of(y, dy)

    fx = Fixture(out, "attention", "y = sigmoid(bn2(conv2(relu(bn1(conv1(cat(a, b))))))) * f, 1 x 1 convs, training")
    for key, t in [("a", a), ("b", b), ("f", f)]:
        fx.put(key, t)
    for prefix, mod in [("conv1.", conv1), ("bn1.", bn1), ("conv2.", conv2), ("bn2.", bn2)]:
        for pname, p in mod.named_parameters():
            fx.put(prefix + pname, p)
    fx.put("y", y)
    fx.put("dy", dy)
    for key, t in [("da", a), ("db", b), ("df", f)]:
        fx.put(key, t.grad)
    for prefix, mod in [("conv1.", conv1), ("bn1.", bn1), ("conv2.", conv2), ("bn2.", bn2)]:
        for pname, p in mod.named_parameters():
            fx.put("d" + prefix + pname, p.grad)
    fx.save()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "conv", "fixtures")
    os.makedirs(out, exist_ok=True)
    conv_fixture(out, "conv_k3", 2, 3, 5, 6, 4, 3, 1, 1, seed=1)
    conv_fixture(out, "conv_k3_single", 1, 3, 6, 5, 4, 3, 1, 1, seed=2)
    conv_fixture(out, "conv_k1", 2, 5, 4, 3, 3, 1, 1, 0, seed=3)
    conv_fixture(out, "conv_k5", 3, 2, 9, 8, 3, 5, 1, 0, seed=4)
    conv_fixture(out, "conv_k3_s2", 2, 3, 7, 6, 4, 3, 2, 1, seed=5)
    conv_fixture(out, "conv_k2_s3", 1, 2, 8, 7, 3, 2, 3, 0, seed=6)
    batch_norm_fixture(out, "bn_train", (3, 4, 5, 6), True, seed=10)
    batch_norm_fixture(out, "bn_eval", (3, 4, 5, 6), False, seed=11)
    batch_norm_fixture(out, "bn_train_flat", (6, 4), True, seed=12)
    pool_fixture(out)
    resize_fixture(out, "bilinear", [(10, 14), (3, 4), (5, 7), (8, 9), (1, 1)], seed=30)
    resize_fixture(out, "nearest", [(10, 14), (3, 4), (5, 7), (8, 9), (4, 11)], seed=31)
    nll_fixture(out, "nll_image", (2, 5, 3, 4), seed=42)
    nll_fixture(out, "nll_flat", (6, 4), seed=43)
    depth_fixture(out)
    normal_fixture(out)
    attention_fixture(out)


if __name__ == "__main__":
    main()
