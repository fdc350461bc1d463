#!/usr/bin/env python3
"""Write tests/nyuv2/nyuv2_fixture.txt: PyTorch's values for the NYUv2 task.

Two parts, both computed with PyTorch (Debian's python3-torch) and numpy the
way the reference code (Nash-MTL experiments/nyuv2, from MTAN and CAGrad)
computes them; the code below is written from REFERENCE.md's description and
PyTorch's documented functions, not copied:

  * augmentation: one small scene (10 x 14, the fields of the MTAN layout) and
    the scene after RandomScaleCrop + flip for fixed draws (scale, crop corner,
    flip), covering the three scales, both flip outcomes and the corners;
  * metrics: two batches of hand-made random predictions and ground truth
    (labels with -1, depths and normals with empty pixels) and the nine
    metrics of the pass: mIoU and pixel accuracy from one confusion matrix,
    depth and normal errors averaged over the batches.

Format: '#' comments; every other line is `NAME COUNT v1 v2 ...` (floats
written exactly with %.9g).  Planar (channels first) order, as the C code
holds scenes.  CI never runs this script; the output file is committed.

Usage: tools/make_nyuv2_sample.py [OUTPUT]   (default tests/nyuv2/nyuv2_fixture.txt)
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "tests", "nyuv2", "nyuv2_fixture.txt")
    rng = np.random.RandomState(20220202)
    torch.set_num_threads(1)
    with open(path, "w") as out:
        out.write("# NYUv2 fixture, written by tools/make_nyuv2_sample.py with PyTorch "
                  f"{torch.__version__}\n")
        augmentation_part(out, rng)
        metrics_part(out, rng)
    print(f"make_nyuv2_sample: wrote {path}")


if __name__ == "__main__":
    main()
