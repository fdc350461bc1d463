#!/usr/bin/env python3
"""Write tests/toy/toy_fixture.txt: the toy objectives and their gradients.

The values are computed independently of the C code: the smooth pieces of the
objectives (REFERENCE.md, section 2 "toy") are differentiated symbolically
with sympy and evaluated at 50 significant digits; the non-smooth pieces
(|u|, max(u, 5e-6), max(t, 0)) are then chained by hand with PyTorch's rules,
stated explicitly below, because they decide what happens on the kinks:

  * d|u|/du = sign(u), and 0 at u = 0;
  * d max(u, lo)/du = 1 where u >= lo (the bound included), 0 elsewhere.

Away from the kinks every gradient is also checked against mpmath's
numerical differentiation at the same precision, and the script stops if the
two disagree.

Every point is a pair of float32 values (the C model's parameter is float32),
written exactly with %.17g, like every value.  Needs sympy and mpmath (pip);
CI never runs this script, the output file is committed.

Usage: tools/toy_fixture.py [OUTPUT]   (default tests/toy/toy_fixture.txt)
"""

import os
import struct
import sys

try:
    import mpmath
    import sympy
except ImportError as exc:
    sys.exit(f"toy_fixture: needs sympy and mpmath ({exc}); pip install sympy")

DIGITS = 50
SCALE = sympy.Rational(1, 10)
LOG_FLOOR = sympy.Float("5e-6", DIGITS)
PARETO_X2 = -8.3552

mpmath.mp.dps = DIGITS


def f32(v):
    """The float32 value nearest to v, as a Python float."""
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def points():
    """About twenty named points: starts, kinks, clamps, Pareto front."""
    t1, t2 = float(mpmath.tanh(1)), float(mpmath.tanh(2))
    pts = [
        ("start0", -8.5, 7.5),
        ("start1", 0.0, 0.0),  # tanh(x2/2) == 0: both clamps at their bound
        ("start2", 9.0, 9.0),
        ("start3", -7.5, -0.5),
        ("start4", 9.0, -1.0),
        ("x2zero", 3.0, 0.0),
        ("x2zero_u1zero", -7.0, 0.0),  # u1 == 0 exactly: d|u|/du = 0
        ("x2zero_u2zero", 7.0, 0.0),  # u2 == 0 exactly
        ("x2small_pos", 2.0, 1e-3),
        ("x2small_neg", 2.0, -1e-3),
        ("u1_clamped", -7.0 + 2.0 * t1, 1.0),  # |u1| < 5e-6: the log is clamped
        ("u2_clamped", 7.0 - 2.0 * t2, 2.0),  # |u2| < 5e-6
        ("u1_near", -7.0 + 2.0 * t1 - 0.1, 1.0),  # u1 = +0.05
        ("u2_near", 7.0 - 2.0 * t2 + 0.1, 2.0),  # u2 = -0.05
        ("middle_pos", 1.5, 4.0),
        ("middle_neg", -2.0, -3.0),
    ]
    for i, x1 in enumerate([-7.0, -3.5, 0.0, 3.5, 7.0]):
        pts.append((f"pareto{i}", x1, PARETO_X2))
    return [(name, f32(a), f32(b)) for name, a, b in pts]


class Objectives:
    """Symbolic smooth pieces; the kinks are chained in value_and_grad()."""

    def __init__(self):
        x1, x2 = sympy.symbols("x1 x2", real=True)
        self.vars = (x1, x2)
        half = sympy.Rational(1, 2)
        tenth = sympy.Rational(1, 10)
        self.u = [
            half * (-x1 - 7) - sympy.tanh(-x2),
            half * (-x1 + 3) + sympy.tanh(-x2) + 2,
        ]
        self.quad = [
            ((-x1 + 7) ** 2 + tenth * (-x2 - 8) ** 2) / 10 - 20,
            ((-x1 - 7) ** 2 + tenth * (-x2 - 8) ** 2) / 10 - 20,
        ]
        self.t = [sympy.tanh(x2 * half), sympy.tanh(-x2 * half)]
        self.grads = {}
        for name, exprs in (("u", self.u), ("quad", self.quad), ("t", self.t)):
            self.grads[name] = [[sympy.diff(e, v) for v in self.vars] for e in exprs]

    def _eval(self, expr, at):
        return sympy.Float(sympy.N(expr.subs(at), DIGITS), DIGITS)

    def value_and_grad(self, a, b):
        """(f1, f2) with f1 scaled, and their gradients, PyTorch's kink rules."""
        # float32 values are binary fractions: substitute them exactly.
        at = {self.vars[0]: sympy.Rational(a), self.vars[1]: sympy.Rational(b)}
        ev = lambda e: self._eval(e, at)  # noqa: E731

        # c_i = max(t_i, 0): the gradient passes where t_i >= 0, 0 included.
        c, dc = [], []
        for i in range(2):
            t = ev(self.t[i])
            c.append(t if t >= 0 else sympy.Float(0))
            dc.append([ev(g) if t >= 0 else sympy.Float(0) for g in self.grads["t"][i]])

        f, df = [], []
        for i in range(2):
            u = ev(self.u[i])
            du = [ev(g) for g in self.grads["u"][i]]
            sign = 1 if u > 0 else (-1 if u < 0 else 0)  # d|u|/du = 0 at 0
            a_u = abs(u)
            passes = a_u >= LOG_FLOOR  # max(|u|, lo): bound included
            m = a_u if passes else LOG_FLOOR
            log_branch = sympy.log(m) + 6
            dlog = [(sign * g / m) if passes else sympy.Float(0) for g in du]

            q = ev(self.quad[i])
            dq = [ev(g) for g in self.grads["quad"][i]]

            fi = c[0] * log_branch + c[1] * q
            dfi = [
                dc[0][j] * log_branch + c[0] * dlog[j] + dc[1][j] * q + c[1] * dq[j]
                for j in range(2)
            ]
            if i == 0:
                fi = fi * SCALE
                dfi = [g * SCALE for g in dfi]
            f.append(fi)
            df.append(dfi)
        return f, df


def smooth_value(a, b):
    """The objectives as plain mpmath functions, for numerical differentiation."""

    def obj(x1, x2):
        c1 = mpmath.mpf(max(mpmath.tanh(x2 / 2), 0))
        c2 = mpmath.mpf(max(mpmath.tanh(-x2 / 2), 0))
        u1 = (-x1 - 7) / 2 - mpmath.tanh(-x2)
        u2 = (-x1 + 3) / 2 + mpmath.tanh(-x2) + 2
        floor = mpmath.mpf(5) / 10**6
        l1 = mpmath.log(max(abs(u1), floor)) + 6
        l2 = mpmath.log(max(abs(u2), floor)) + 6
        q1 = ((-x1 + 7) ** 2 + (-x2 - 8) ** 2 / 10) / 10 - 20
        q2 = ((-x1 - 7) ** 2 + (-x2 - 8) ** 2 / 10) / 10 - 20
        return (c1 * l1 + c2 * q1) / 10, c1 * l2 + c2 * q2

    return obj


def check_numerically(name, a, b, f, df):
    """Numerical derivatives agree with the symbolic ones off the kinks."""
    obj = smooth_value(a, b)
    x1, x2 = mpmath.mpf(a), mpmath.mpf(b)
    for i in range(2):
        val = obj(x1, x2)[i]
        if abs(val - mpmath.mpf(str(f[i]))) > mpmath.mpf(10) ** (-40):
            sys.exit(f"toy_fixture: {name}: value of f{i + 1} disagrees")
        for j in range(2):
            h = mpmath.mpf(10) ** -20
            if j == 0:
                num = (obj(x1 + h, x2)[i] - obj(x1 - h, x2)[i]) / (2 * h)
            else:
                num = (obj(x1, x2 + h)[i] - obj(x1, x2 - h)[i]) / (2 * h)
            ref = mpmath.mpf(str(df[i][j]))
            if abs(num - ref) > mpmath.mpf(10) ** -15 * max(1, abs(ref)):
                sys.exit(f"toy_fixture: {name}: d f{i + 1} / d x{j + 1}: "
                         f"numerical {num} != symbolic {ref}")


def on_kink(a, b):
    """Points where a one-sided derivative differs: x2 == 0 or a clamped log."""
    if b == 0.0:
        return True
    u1 = (-a - 7) / 2 - float(mpmath.tanh(-b))
    u2 = (-a + 3) / 2 + float(mpmath.tanh(-b)) + 2
    return min(abs(u1), abs(u2)) < 1e-5


HEADER = """\
# toy_fixture.txt - written by tools/toy_fixture.py; do not edit by hand.
#
# The toy objectives of REFERENCE.md section 2 and their gradients, computed
# with sympy (symbolic derivatives of the smooth pieces, 50 digits), and away
# from the kinks checked against mpmath numerical differentiation.
#   f1 = 0.1 * (c1 (log max(|0.5(-x1 - 7) - tanh(-x2)|, 5e-6) + 6)
#               + c2 (((-x1 + 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20))
#   f2 = c1 (log max(|0.5(-x1 + 3) + tanh(-x2) + 2|, 5e-6) + 6)
#        + c2 (((-x1 - 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20)
#   c1 = max(tanh(x2/2), 0), c2 = max(tanh(-x2/2), 0); scale 0.1 is in f1.
# Kinks follow PyTorch's gradient rules: d|u|/du = 0 at u = 0, and
# max(u, lo) passes the gradient where u >= lo, the bound included (so at
# x2 = 0 both c1 and c2 pass tanh's derivative, +-1/2).
# x1, x2 are float32 values; all numbers are printed with %.17g.
#
# columns: name x1 x2 f1 f2 df1/dx1 df1/dx2 df2/dx1 df2/dx2
"""


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "toy", "toy_fixture.txt")
    obj = Objectives()
    lines = [HEADER]
    for name, a, b in points():
        f, df = obj.value_and_grad(a, b)
        if not on_kink(a, b):
            check_numerically(name, a, b, f, df)
        nums = [a, b, f[0], f[1], df[0][0], df[0][1], df[1][0], df[1][1]]
        lines.append(name + " " + " ".join("%.17g" % float(v) for v in nums) + "\n")
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        fh.writelines(lines)
    os.replace(tmp, out)
    print(f"toy_fixture: wrote {len(lines) - 1} points to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
