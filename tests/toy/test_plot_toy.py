#!/usr/bin/env python3
"""Tests of tools/plot_toy.py on small run folders written here.

Usage: test_plot_toy.py SOURCE_DIR

Runs the tool with the first interpreter among this one and /usr/bin/python3
that has matplotlib; exits 77 (skipped for ctest) when none has.
"""

import math
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # importing plot_toy must leave tools/ clean

SKIP = 77
STARTS = [(-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0)]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def has_matplotlib(python):
    try:
        return subprocess.run([python, "-c", "import matplotlib, numpy"],
                              capture_output=True).returncode == 0
    except OSError:
        return False


def losses(x1, x2):
    """The toy objectives, enough for a plausible CSV."""
    c1, c2 = max(math.tanh(x2 / 2), 0), max(math.tanh(-x2 / 2), 0)
    l1 = math.log(max(abs(0.5 * (-x1 - 7) - math.tanh(-x2)), 5e-6)) + 6
    l2 = math.log(max(abs(0.5 * (-x1 + 3) + math.tanh(-x2) + 2), 5e-6)) + 6
    q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    return 0.1 * (c1 * l1 + c2 * q1), c1 * l2 + c2 * q2


def write_run(folder, method=None):
    """A run folder with straight paths from each start to the front; with a
    method, a config.ini headed the way mtlhost writes it."""
    os.makedirs(folder)
    if method:
        with open(os.path.join(folder, "config.ini"), "w") as fh:
            fh.write("# The resolved configuration of this run (mtlhost 0.1.0, ABI 1.0).\n"
                     f"# method {method} (/opt/mtl/plugins/{method}.so), task toy (toy.so)\n"
                     "[task]\nscale = 0.1\n")
    with open(os.path.join(folder, "toy_trajectories.csv"), "w") as fh:
        fh.write("start,step,x1,x2,l1,l2\n")
        for s, (a, b) in enumerate(STARTS):
            for k in range(51):
                t = k / 50
                x1, x2 = a + (s - 2 - a) * t, b + (-8.3552 - b) * t
                l1, l2 = losses(x1, x2)
                fh.write(f"{s},{10 * k},{x1!r},{x2!r},{l1!r},{l2!r}\n")


class Checks:
    def __init__(self, python, tool):
        self.python, self.tool, self.failures = python, tool, 0

    def run(self, *args, env=None):
        return subprocess.run([self.python, self.tool, *args], capture_output=True, text=True,
                              env=env)

    def expect(self, cond, what):
        if not cond:
            print(f"FAILED: {what}")
            self.failures += 1


def is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == PNG_MAGIC


def main():
    source = sys.argv[1]
    tool = os.path.join(source, "tools", "plot_toy.py")
    python = next((p for p in (sys.executable, "/usr/bin/python3") if has_matplotlib(p)), None)
    if python is None:
        print("skipped: no python3 with matplotlib (Debian: python3-matplotlib)")
        return SKIP
    c = Checks(python, tool)

    with tempfile.TemporaryDirectory() as tmp:
        ls = os.path.join(tmp, "ls")
        nash = os.path.join(tmp, "toy-nashmtl-20240101-120000")  # mtlhost's default name
        write_run(ls, "ls")
        write_run(nash)

        r = c.run(ls)
        c.expect(r.returncode == 0, f"one run: exit {r.returncode}: {r.stderr.strip()}")
        png = os.path.join(ls, "toy.png")
        c.expect(os.path.exists(png) and is_png(png), "one run: RUN_DIR/toy.png is a PNG")
        c.expect(sorted(os.listdir(ls)) == ["config.ini", "toy.png", "toy_trajectories.csv"],
                 f"one run: no temporary file left ({sorted(os.listdir(ls))})")

        out = os.path.join(tmp, "fig1.png")
        r = c.run("--compare", ls, nash, "-o", out)
        c.expect(r.returncode == 0 and is_png(out), f"--compare: {r.stderr.strip()}")

        r = c.run(ls, nash)
        c.expect(r.returncode == 2, "several RUN_DIRs without --compare are refused")

        # The method's display name is read from config.ini.
        sys.path.insert(0, os.path.dirname(tool))
        import plot_toy  # noqa: E402

        c.expect(plot_toy.load_run(nash)["title"] == "Nash-MTL", "title from the folder's name")
        c.expect(plot_toy.load_run(ls)["title"] == "LS", "title from config.ini")

        # Missing and malformed files: exit 1 and one line naming the problem.
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        r = c.run(empty)
        want = (f"plot_toy: cannot read {empty}/toy_trajectories.csv: "
                "No such file or directory\n")
        c.expect(r.returncode == 1 and r.stderr == want, f"absent CSV: {r.stderr!r}")

        bad = os.path.join(empty, "toy_trajectories.csv")
        with open(bad, "w") as fh:
            fh.write("start,step,x1,x2,l1,l2\n0,0,1,2,3\n")
        r = c.run(empty)
        want = f"plot_toy: {bad}:2: wrong number of fields (expected 6, got 5)\n"
        c.expect(r.returncode == 1 and r.stderr == want, f"short row: {r.stderr!r}")

        with open(bad, "w") as fh:
            fh.write("start,step,x1,x2,l1,l2\n0,0,1,2,3,inf\n")
        r = c.run(empty)
        want = f"plot_toy: {bad}:2: non-finite value in '0,0,1,2,3,inf'\n"
        c.expect(r.returncode == 1 and r.stderr == want, f"non-finite: {r.stderr!r}")

        with open(bad, "w") as fh:
            fh.write("step,x1\n")
        r = c.run(empty)
        c.expect(r.returncode == 1 and r.stderr.startswith(f"plot_toy: {bad}:1: bad header"),
                 f"bad header: {r.stderr!r}")

        # Without matplotlib: a stand-in module that fails to import.
        fake = os.path.join(tmp, "fake")
        os.makedirs(fake)
        with open(os.path.join(fake, "matplotlib.py"), "w") as fh:
            fh.write("raise ImportError('No module named matplotlib')\n")
        env = dict(os.environ, PYTHONPATH=fake)
        r = c.run(ls, env=env)
        lines = r.stderr.splitlines()
        c.expect(r.returncode == 1 and len(lines) == 1 and
                 lines[0].startswith("plot_toy: cannot draw: matplotlib is not available"),
                 f"no matplotlib: {r.stderr!r}")

    print("test_plot_toy: " + ("all checks passed" if not c.failures else
                               f"{c.failures} check(s) failed"))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
