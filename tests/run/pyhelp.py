"""Shared by the python tests of tests/run: a python3 that has what a test needs."""

import importlib.util
import os
import subprocess
import sys

SYSTEM_PYTHON = "/usr/bin/python3"


def need(*modules):
    """Returns when this python has the modules; else re-runs the test under
    /usr/bin/python3 when that one has them, or exits 77 (skipped) saying why."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    if not os.environ.get("MTL_TEST_REEXEC") and os.path.exists(SYSTEM_PYTHON):
        probe = ("import importlib.util, sys; "
                 f"sys.exit(any(importlib.util.find_spec(m) is None for m in {list(modules)!r}))")
        if subprocess.run([SYSTEM_PYTHON, "-c", probe]).returncode == 0:
            os.environ["MTL_TEST_REEXEC"] = "1"
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    print(f"skipped: no python3 with {', '.join(missing)} (tried python3 and {SYSTEM_PYTHON}; "
          "install with: python3 -m pip install -r tools/requirements.txt)")
    sys.exit(77)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def run_host(mtlhost, args, env=None, plugin_path=None):
    e = dict(os.environ)
    if plugin_path:
        e["MTL_PLUGIN_PATH"] = plugin_path
    if env:
        e.update(env)
    r = subprocess.run([mtlhost] + args, env=e, capture_output=True, text=True)
    check(r.returncode == 0, f"mtlhost {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r
