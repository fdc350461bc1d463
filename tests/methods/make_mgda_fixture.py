#!/usr/bin/env python3
"""Writes tests/methods/mgda_fixture.txt: MGDA weights computed by the
reference code's own min-norm solver (Sener and Koltun's MinNormSolver in
methods/min_norm_solvers.py of github.com/AvivNavon/nash-mtl), so that the C
port in plugins/mgda.c is checked against it in CI, where neither the
reference nor PyTorch is available.

Usage: make_mgda_fixture.py /path/to/nash-mtl-checkout [output]

The reference solver is imported from the checkout, not copied.  It only
calls torch.dot(a, b).item() on its inputs, so a stand-in `torch` module
with a NumPy dot is enough to run it.  Cases: seeded random task gradients
(rows of J) of several sizes, conflict levels and norm ranges, including
orthogonal ill-conditioned ones (thousands of solver steps), each with one
of the normalizations none, l2, loss, loss+ applied to the gradients before
the solve as the reference does; expected weights = solver weights times k.
"""
import sys
import types
from pathlib import Path

import numpy as np


def load_reference_solver(checkout):
    torch = types.ModuleType("torch")
    torch.dot = lambda a, b: np.float64(np.dot(a, b))
    sys.modules["torch"] = torch
    sys.path.insert(0, str(Path(checkout) / "methods"))
    from min_norm_solvers import MinNormSolver  # noqa: E402

    return MinNormSolver


def normalizers(J, losses, kind):
    norms = np.sqrt((J * J).sum(axis=1))
    return {"none": np.ones(len(J)), "l2": norms, "loss": losses, "loss+": losses * norms}[kind]


def cases(rng):
    kinds = ["none", "l2", "loss", "loss+"]
    for n in range(48):
        k = 3 + n % 9
        d = k + int(rng.integers(0, 6))
        if n % 4 == 0:
            # Orthogonal rows with norms spread over e^-2..e^2.
            q, _ = np.linalg.qr(rng.standard_normal((d, k)))
            J = (q * np.exp(4 * rng.random(k) - 2)).T
        else:
            J = rng.standard_normal((k, d))
            J[:, 0] += [0.3, 1.0, 3.0][n % 3]
            J *= np.exp(2 * rng.random(k) - 1)[:, None]
        losses = 0.2 + rng.random(k)
        yield k, d, kinds[(n // 2) % 4], J, losses


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    solver = load_reference_solver(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).with_name("mgda_fixture.txt")
    rng = np.random.default_rng(20220202)
    lines = [
        "# MGDA weights (x k) from the reference's MinNormSolver; written by",
        "# tests/methods/make_mgda_fixture.py.  Per case: k d normalization,",
        "# then J (k x d, row-major), the k losses, the k expected weights.",
    ]
    for k, d, kind, J, losses in cases(rng):
        Jn = J / normalizers(J, losses, kind)[:, None]
        sol, _ = solver.find_min_norm_element([[Jn[i]] for i in range(k)])
        lines.append(f"{k} {d} {kind}")
        for values in (J.ravel(), losses, sol * k):
            lines.append(" ".join(repr(float(v)) for v in values))
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
