#!/usr/bin/env python3
"""Write tests/nyuv2/nyuv2_fixture.txt and nyuv2_model_fixture.txt: PyTorch's
values for the NYUv2 task.

Three parts, computed with PyTorch (Debian's python3-torch) and numpy the way
the reference code (Nash-MTL experiments/nyuv2, from MTAN and CAGrad)
computes them; the code below is written from REFERENCE.md's description and
PyTorch's documented functions, not copied:

  * augmentation: one small scene (10 x 14, the fields of the MTAN layout) and
    the scene after RandomScaleCrop + flip for fixed draws (scale, crop corner,
    flip), covering the three scales, both flip outcomes and the corners;
  * metrics: two batches of hand-made random predictions and ground truth
    (labels with -1, depths and normals with empty pixels) and the nine
    metrics of the pass: mIoU and pixel accuracy from one confusion matrix,
    depth and normal errors averaged over the batches;
  * models (nyuv2_model_fixture.txt): SegNet-MTAN and the split SegNet of
    tools/bench_nyuv2.py with every parameter set by a formula of its position
    (see formula_weights(), which the C test repeats), a 2 x 3 x 32 x 64 input
    and targets also given by formulas, computed in float64: the losses, sums
    of the outputs, the running statistics after the training-mode forward,
    sums of squares of some parameters' gradients of the summed loss, and the
    losses of an evaluation-mode forward.  (The model of bench_nyuv2.py gives
    the same outputs as the reference's models.py, bit for bit, on this
    input: checked when it was written.)

Format: '#' comments; every other line is `NAME COUNT v1 v2 ...` (floats
written exactly with %.9g).  Planar (channels first) order, as the C code
holds scenes.  CI never runs this script; the output file is committed.

Usage: tools/make_nyuv2_sample.py [FOLDER]   (default tests/nyuv2)
"""

import os
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:
    sys.exit(f"make_nyuv2_sample: needs PyTorch ({exc}); apt install python3-torch")

H, W = 10, 14
CLASSES = 13

# (scale, top, left, flip): each scale, each flip, corners and the middle.
CASES = [
    (1.0, 0, 0, 0),
    (1.0, 0, 0, 1),
    (1.2, 0, 0, 0),
    (1.2, 2, 3, 1),
    (1.5, 4, 5, 0),
    (1.5, 1, 2, 1),
    (1.5, 0, 0, 1),
]


def scene(rng):
    """One scene in the MTAN layout's shapes (H x W x C), float32."""
    image = rng.uniform(0.0, 1.0, (H, W, 3)).astype(np.float32)
    label = rng.randint(-1, CLASSES, (H, W)).astype(np.float32)
    depth = rng.uniform(0.5, 10.0, (H, W, 1)).astype(np.float32)
    depth[rng.uniform(size=(H, W)) < 0.2] = 0.0
    normal = rng.normal(size=(H, W, 3))
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    normal = normal.astype(np.float32)
    normal[rng.uniform(size=(H, W)) < 0.2] = 0.0
    return image, label, depth, normal


def augment(fields, scale, top, left, flip):
    """RandomScaleCrop with these draws, then the flip (tensors C x H x W)."""
    image, label, depth, normal = fields
    h, w = int(H / scale), int(W / scale)

    def crop(x):
        return x[None, :, top : top + h, left : left + w]

    image = F.interpolate(crop(image), size=(H, W), mode="bilinear", align_corners=True)[0]
    label = F.interpolate(crop(label[None]), size=(H, W), mode="nearest")[0, 0]
    depth = F.interpolate(crop(depth), size=(H, W), mode="nearest")[0] / scale
    normal = F.interpolate(crop(normal), size=(H, W), mode="bilinear", align_corners=True)[0]
    if flip:
        image = torch.flip(image, dims=[2])
        label = torch.flip(label, dims=[1])
        depth = torch.flip(depth, dims=[2])
        normal = torch.flip(normal, dims=[2])
        normal[0] = -normal[0]
    return image, label, depth, normal


def write(out, name, values):
    values = np.asarray(values, dtype=np.float64).ravel()
    out.write(f"{name} {values.size} " + " ".join(f"{v:.9g}" for v in values) + "\n")


def planar(fields):
    """H x W x C arrays as C x H x W tensors (the reference's np.moveaxis)."""
    image, label, depth, normal = fields
    return (
        torch.from_numpy(np.moveaxis(image, -1, 0).copy()),
        torch.from_numpy(label.copy()),
        torch.from_numpy(np.moveaxis(depth, -1, 0).copy()),
        torch.from_numpy(np.moveaxis(normal, -1, 0).copy()),
    )


def augmentation_part(out, rng):
    fields = scene(rng)
    out.write(f"# a {H} x {W} scene, planar\n")
    write(out, "size", [H, W])
    for name, x in zip(("image", "label", "depth", "normal"), planar(fields)):
        write(out, name, x.numpy())
    for scale, top, left, flip in CASES:
        out.write(f"# scale {scale}, crop at ({top}, {left}), flip {flip}\n")
        write(out, "case", [scale, top, left, flip])
        result = augment(planar(fields), scale, top, left, flip)
        for name, x in zip(("image", "label", "depth", "normal"), result):
            write(out, "aug_" + name, x.numpy())


def metrics_batch(rng, n, h, w):
    logits = torch.from_numpy(rng.normal(size=(n, CLASSES, h, w)).astype(np.float32))
    logp = F.log_softmax(logits, dim=1)
    label = torch.from_numpy(rng.randint(-1, CLASSES, (n, h, w)).astype(np.float32))
    depth_true = torch.from_numpy(rng.uniform(0.5, 5.0, (n, 1, h, w)).astype(np.float32))
    depth_true[torch.from_numpy(rng.uniform(size=(n, 1, h, w)) < 0.25)] = 0.0
    depth_pred = depth_true + torch.from_numpy(rng.normal(0, 0.5, (n, 1, h, w)).astype(np.float32))
    normal_true = F.normalize(torch.from_numpy(rng.normal(size=(n, 3, h, w))), dim=1).float()
    normal_true = normal_true * torch.from_numpy(rng.uniform(size=(n, 1, h, w)) > 0.2).float()
    noisy = normal_true + torch.from_numpy(rng.normal(0, 0.4, (n, 3, h, w)).astype(np.float32))
    normal_pred = noisy / torch.norm(noisy, p=2, dim=1, keepdim=True)
    return logp, label, depth_pred, depth_true, normal_pred, normal_true


def batch_errors(depth_pred, depth_true, normal_pred, normal_true):
    """The per-batch depth and normal errors, as the reference's utils.py defines them."""
    mask = torch.sum(depth_true, dim=1) != 0
    mask = mask.unsqueeze(1)
    d, t = depth_pred.masked_select(mask), depth_true.masked_select(mask)
    count = int(mask.sum())
    abs_err = (torch.sum(torch.abs(d - t)) / count).item()
    rel_err = (torch.sum(torch.abs(d - t) / t) / count).item()

    nmask = torch.sum(normal_true, dim=1) != 0
    dot = torch.sum(normal_pred * normal_true, 1).masked_select(nmask)
    err = np.degrees(torch.acos(torch.clamp(dot, -1, 1)).numpy())
    normal = [np.mean(err), np.median(err), np.mean(err < 11.25), np.mean(err < 22.5),
              np.mean(err < 30)]
    return [abs_err, rel_err] + [float(v) for v in normal]


def metrics_part(out, rng):
    n, h, w = 2, 6, 8
    conf = torch.zeros((CLASSES, CLASSES), dtype=torch.int64)
    sums = np.zeros(7)
    out.write(f"# metrics: two batches of {n} scenes of {h} x {w}\n")
    write(out, "mbatch", [n, h, w])
    batches = 2
    for b in range(batches):
        logp, label, depth_pred, depth_true, normal_pred, normal_true = metrics_batch(rng, n, h, w)
        for name, x in (("logp", logp), ("label", label), ("depth_pred", depth_pred),
                        ("depth_true", depth_true), ("normal_pred", normal_pred),
                        ("normal_true", normal_true)):
            write(out, name, x.numpy())
        pred, target = logp.argmax(1).flatten(), label.long().flatten()
        keep = (target >= 0) & (target < CLASSES)
        conf += torch.bincount(CLASSES * target[keep] + pred[keep],
                               minlength=CLASSES ** 2).reshape(CLASSES, CLASSES)
        sums += np.array(batch_errors(depth_pred, depth_true, normal_pred, normal_true))
    h_ = conf.double()
    iou = torch.diag(h_) / (h_.sum(1) + h_.sum(0) - torch.diag(h_))
    miou = float(torch.mean(iou))
    acc = float(torch.diag(h_).sum() / h_.sum())
    write(out, "expected", [miou, acc] + list(sums / batches))


# ---- models ---------------------------------------------------------------

MODEL_N, MODEL_H, MODEL_W = 2, 32, 64

# Gradients whose sums of squares the fixture holds (both models have the first four).
GRAD_PARAMS = [
    "segnet.encoder_block.0.0.weight",
    "segnet.conv_block_enc.3.1.0.weight",
    "segnet.conv_block_dec.0.1.weight",
    "segnet.pred_task1.1.weight",
    "segnet.pred_task2.0.bias",
    "segnet.pred_task3.1.weight",
    "segnet.encoder_att.1.2.0.weight",
    "segnet.decoder_att.2.3.3.weight",
    "segnet.decoder_block_att.0.1.bias",
]
RUNNING = ["segnet.encoder_block.0.1.running_mean", "segnet.conv_block_dec.4.1.1.running_var"]


def hash_uniform(stream, n):
    """n values in [-1, 1): a 64-bit mix of (stream, index), as the C test computes them."""
    k = np.arange(n, dtype=np.uint64)
    offset = np.uint64(stream * 0xBF58476D1CE4E5B9 % 2 ** 64)
    x = k * np.uint64(0x9E3779B97F4A7C15) + offset
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 * 2.0 - 1.0


def formula_weights(model):
    """Parameter j: uniform values of stream j, scaled by kind (float64, then float32)."""
    for j, (name, p) in enumerate(model.named_parameters()):
        s = hash_uniform(j, p.numel())
        if p.dim() == 4:
            v = np.sqrt(3.0 / (p.numel() // p.shape[0])) * s
        elif name.endswith(".weight"):
            v = 1.0 + 0.1 * s
        else:
            v = 0.1 * s
        with torch.no_grad():
            p.copy_(torch.from_numpy(v.astype(np.float32)).reshape(p.shape))


def formula_inputs():
    n, h, w = MODEL_N, MODEL_H, MODEL_W
    image = (0.5 + 0.5 * hash_uniform(1000, n * 3 * h * w)).astype(np.float32)
    image = image.reshape(n, 3, h, w)
    q = np.arange(n * h * w)
    label = ((q * 7) % 14 - 1).astype(np.float32).reshape(n, h, w)
    depth = np.where(q % 5 == 0, 0.0, 1.0 + 0.5 * np.sin(0.3 * q)).astype(np.float32)
    v = np.stack([np.sin(0.2 * q), np.cos(0.2 * q), np.full(q.shape, 0.5)])
    v = v / np.linalg.norm(v, axis=0)
    v[:, q % 7 == 0] = 0.0
    normal = v.astype(np.float32).reshape(3, n, h, w).transpose(1, 0, 2, 3).copy()
    return (torch.from_numpy(image), torch.from_numpy(label),
            torch.from_numpy(depth.reshape(n, 1, h, w)), torch.from_numpy(normal))


def bench_module():
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("bench_nyuv2", os.path.join(here,
                                                                            "bench_nyuv2.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_part(out, name, mtan):
    bench = bench_module()
    # float64: the exact values our float32 computation is compared with
    model = bench.torch_models()(mtan)
    formula_weights(model)
    model = model.double()
    image, label, depth, normal = (x.double() for x in formula_inputs())
    model.train()
    pred = model(image)
    losses = bench.torch_losses(pred, label.long(), depth, normal)
    losses.sum().backward()
    out.write(f"# {name}: training-mode forward of the formula batch\n")
    write(out, name + "_losses", losses.detach().numpy())
    sums = []
    for x in pred:
        x = x.detach().double()
        sums += [float(x.sum()), float((x * x).sum())]
    write(out, name + "_output_sums", sums)
    # the reference wraps its network as `segnet`; the names below carry that prefix
    params = {"segnet." + k: v for k, v in model.named_parameters()}
    buffers = {"segnet." + k: v for k, v in model.named_buffers()}
    write(out, name + "_running", [float(buffers[b].double().sum()) for b in RUNNING])
    write(out, name + "_grad_ss", [float(params[p].grad.double().pow(2).sum())
                                   if p in params else -1.0 for p in GRAD_PARAMS])
    model.eval()
    with torch.no_grad():
        losses = bench.torch_losses(model(image), label.long(), depth, normal)
    write(out, name + "_eval_losses", losses.numpy())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "nyuv2")
    path = os.path.join(folder, "nyuv2_fixture.txt")
    rng = np.random.RandomState(20220202)
    torch.set_num_threads(1)
    with open(path, "w") as out:
        out.write("# NYUv2 fixture, written by tools/make_nyuv2_sample.py with PyTorch "
                  f"{torch.__version__}\n")
        augmentation_part(out, rng)
        metrics_part(out, rng)
    print(f"make_nyuv2_sample: wrote {path}")
    path = os.path.join(folder, "nyuv2_model_fixture.txt")
    with open(path, "w") as out:
        out.write("# NYUv2 model fixture, written by tools/make_nyuv2_sample.py with PyTorch "
                  f"{torch.__version__}\n")
        out.write(f"# grad_ss order: {' '.join(GRAD_PARAMS)} (-1: no such parameter)\n")
        out.write(f"# running order: {' '.join(RUNNING)}\n")
        model_part(out, "mtan", True)
        model_part(out, "segnet", False)
    print(f"make_nyuv2_sample: wrote {path}")


if __name__ == "__main__":
    main()
