#!/usr/bin/env python3
"""tools/collect_results.py and tools/plot_run.py on small hand-made run
directories: the paper's table (values, arrows, Delta_m, mean rank with
ties) in Markdown and CSV, its refusals, and the training figure.

    test_run_tools.py MTLHOST BUILD_DIR SOURCE_DIR
"""

import csv
import json
import os
import subprocess
import sys
import tempfile

from pyhelp import check, need

need("matplotlib")

METRICS = [
    {"label": "mIoU", "name": "mIoU", "task": "seg", "higher_is_better": True,
     "baseline": 0.4, "unit": ""},
    {"label": "abs_err", "name": "abs_err", "task": "depth", "higher_is_better": False,
     "baseline": 0.5, "unit": "m"},
]


def make_run(root, name, method, task, values, delta, trials=1, status="finished", error=None):
    run = os.path.join(root, name)
    os.makedirs(run)
    info = {"mtlhost": "0.1.0", "abi": "1.0", "method": {"name": method, "path": "x"},
            "task": {"name": task, "path": "y"}, "seed": 1, "status": status, "error": error,
            "tasks": ["seg", "depth"], "metrics": METRICS, "wandb_id": ""}
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump(info, f)
    with open(os.path.join(run, "results.csv"), "w") as f:
        f.write("trial,selected_epoch,val_delta_m,test_delta_m,loss_seg,loss_depth,"
                "metrics_from,mIoU,abs_err,skipped_steps,solver_failures\n")
        for t in range(trials):
            f.write(f"{t},3,1,{delta + t},0.5,0.25,test,{values[0]},{values[1]},0,0\n")
        if trials > 1:
            f.write(f"mean,,1,{delta},0.5,0.25,test,{values[0]},{values[1]},0,0\n")
    with open(os.path.join(run, "metrics.csv"), "w") as f:
        f.write("trial,epoch,steps,loss_seg,loss_depth,weight_seg,weight_depth,method_loss\n")
        for t in range(trials):
            for e in range(4):
                f.write(f"{t},{e},10,{1 / (e + 1)},{2 / (e + 1)},1,{0.5 + 0.1 * e},1\n")
    return run


def tool(source, name, *args, timeout=None):
    return subprocess.run([sys.executable, os.path.join(source, "tools", name), *args],
                          capture_output=True, text=True, timeout=timeout)


def main(source):
    with tempfile.TemporaryDirectory(prefix="mtl_test_tools_") as tmp:
        a = make_run(tmp, "a", "nashmtl", "nyuv2", (0.41, 0.50), -4.0, trials=2)
        b = make_run(tmp, "b", "ls", "nyuv2", (0.38, 0.55), 5.5)
        c = make_run(tmp, "c", "cagrad", "nyuv2", (0.38, 0.52), 0.2)
        out = os.path.join(tmp, "table.md")
        r = tool(source, "collect_results.py", a, b, c, "-o", out)
        check(r.returncode == 0, f"collect_results failed: {r.stderr}")
        with open(os.path.join(tmp, "table.md"), encoding="utf-8") as f:
            md = f.read()
        check(md == "# nyuv2: results\n\n"
                    "| method | mIoU \u2191 | abs_err [m] \u2193 | Delta_m % \u2193 | mean rank \u2193 |\n"
                    "| --- | ---: | ---: | ---: | ---: |\n"
                    "| nashmtl | 0.41 | 0.5 | -4 | 1 |\n"
                    "| ls | 0.38 | 0.55 | 5.5 | 2.75 |\n"
                    "| cagrad | 0.38 | 0.52 | 0.2 | 2.25 |\n", f"table.md:\n{md}")
        with open(os.path.join(tmp, "table.csv"), encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        check(rows[0] == ["method", "mIoU \u2191", "abs_err [m] \u2193", "Delta_m % \u2193",
                          "mean rank \u2193"], f"csv header {rows[0]}")
        check(rows[2] == ["ls", "0.38", "0.55", "5.5", "2.75"], f"csv row {rows[2]}")

        # Runs of different protocols ([train], [task] of config.ini) are tabled with a
        # warning per differing key; [method] and [output] keys may differ.
        def write_config(run, text):
            with open(os.path.join(run, "config.ini"), "w") as f:
                f.write(text)
        write_config(a, "# header\n[train]\nepochs = 3\nseed = 1\n[method]\nc = 0.4\n"
                        "[task]\ntrain_pairs = 512\n[output]\ndir = a\n")
        write_config(b, "[train]\nepochs = 1\nseed = 1\n[method]\nweights = \n"
                        "[task]\n[output]\ndir = b\n")
        r = tool(source, "collect_results.py", a, b, c)
        check(r.returncode == 0, f"collect_results with differing protocols: {r.stderr}")
        check(r.stderr == f"collect_results: warning: the runs differ in task.train_pairs "
                          f"({a}: 512, {b}: (not set)); the table compares them as they are\n"
                          f"collect_results: warning: the runs differ in train.epochs "
                          f"({a}: 3, {b}: 1); the table compares them as they are\n",
              f"protocol warnings: {r.stderr!r}")
        # the same numbers written differently, and an inline comment, are the same values
        write_config(a, "[train]\nepochs = 3\nlr = 1e-3\n[task]\ntrain_pairs = 512 ; small\n")
        write_config(b, "[train]\nepochs = 3\nlr = 0.001\n[task]\ntrain_pairs = 512\n")
        r = tool(source, "collect_results.py", a, b, c)
        check(r.returncode == 0 and r.stderr == "", f"same protocol: {r.stderr!r}")
        # integers compare exactly (2^53 and 2^53 + 1 are one float); lines end at \n only
        write_config(a, "[train]\nseed = 9007199254740992\n[task]\nnote = x\u0085zz = 1\n")
        write_config(b, "[train]\nseed = 9007199254740993\n[task]\nnote = x\u0085zz = 1\n")
        r = tool(source, "collect_results.py", a, b, c)
        check(r.returncode == 0 and r.stderr == f"collect_results: warning: the runs differ in "
              f"train.seed ({a}: 9007199254740992, {b}: 9007199254740993); the table compares "
              "them as they are\n", f"large seeds: {r.stderr!r}")
        # values whose bytes are not UTF-8 compare as the bytes they are
        for run, byte in ((a, b"\xff"), (b, b"\xfe")):
            with open(os.path.join(run, "config.ini"), "wb") as f:
                f.write(b"[task]\ndata = x" + byte + b"\n")
        r = tool(source, "collect_results.py", a, b, c)
        check(r.returncode == 0 and r.stderr == f"collect_results: warning: the runs differ in "
              f"task.data ({a}: x\\xff, {b}: x\\xfe); the table compares them as they are\n",
              f"non-UTF-8 values: {r.stderr!r}")
        # a config.ini that cannot be read is not compared, and said so; the table is made
        os.remove(os.path.join(b, "config.ini"))
        os.symlink("nowhere.ini", os.path.join(b, "config.ini"))
        r = tool(source, "collect_results.py", a, b, c)
        check(r.returncode == 0 and r.stderr == f"collect_results: warning: {b}: "
              f"{os.path.join(b, 'config.ini')}: no such file or directory (expected a finished "
              "mtlhost run); its configuration is not compared\n" and "| ls |" in r.stdout,
              f"unreadable config.ini: {r.stderr!r}")
        os.remove(os.path.join(a, "config.ini"))
        os.remove(os.path.join(b, "config.ini"))

        # The same method twice is told apart by its folder; another task is refused.
        r = tool(source, "collect_results.py", a, make_run(tmp, "a2", "nashmtl", "nyuv2",
                                                              (0.4, 0.5), 0.0))
        check("| nashmtl (a) |" in r.stdout and "| nashmtl (a2) |" in r.stdout, r.stdout)
        q = make_run(tmp, "q", "ls", "qm9", (1, 2), 0)
        r = tool(source, "collect_results.py", a, q)
        check(r.returncode == 1 and r.stderr == f"collect_results: {q} is a run of task qm9 "
              f"(expected nyuv2, the task of {a})\n", f"refusal: {r.stderr!r}")
        f = make_run(tmp, "f", "ls", "nyuv2", (1, 2), 0, status="failed", error="data: bad")
        os.remove(os.path.join(f, "results.csv"))  # as a failed run leaves it
        r = tool(source, "collect_results.py", a, f)
        check(r.returncode == 1 and r.stderr == f"collect_results: {f}: the run failed: data: "
              "bad (expected a finished mtlhost run)\n", f"refusal: {r.stderr!r}")
        k = make_run(tmp, "k", "ls", "nyuv2", (1, 2), 0, status="running")
        os.remove(os.path.join(k, "results.csv"))
        r = tool(source, "collect_results.py", k)
        check(r.returncode == 1 and r.stderr == f"collect_results: {k}: the run did not finish "
              "(status \"running\": still going, or killed) (expected a finished mtlhost run)\n",
              f"refusal: {r.stderr!r}")
        # A folder named with a newline and an escape: the message stays one line, unescaped.
        odd = make_run(tmp, "n\nl\x1b[2J", "ls", "nyuv2", (1, 2), 0, status="running")
        r = tool(source, "collect_results.py", odd)
        shown_odd = odd.replace("\n", "\\x0a").replace("\x1b", "\\x1b")
        check(r.returncode == 1 and r.stderr == f"collect_results: {shown_odd}: the run did not "
              "finish (status \"running\": still going, or killed) (expected a finished mtlhost "
              "run)\n", f"odd name: {r.stderr!r}")
        # A folder name that is not UTF-8 goes into the table as it is, and into messages
        # as \xNN.
        raw = os.path.join(os.fsencode(tmp), b"bad\x85dir")
        os.makedirs(raw)
        for name in ("run.json", "results.csv"):
            with open(os.path.join(os.fsencode(b), name.encode()), "rb") as f_in, \
                    open(os.path.join(raw, name.encode()), "wb") as f_out:
                f_out.write(f_in.read())
        out_raw = os.path.join(tmp, "rawtable")
        r = subprocess.run([sys.executable, os.path.join(source, "tools", "collect_results.py"),
                            a, raw, "-o", out_raw], capture_output=True)
        check(r.returncode == 0, f"non-UTF-8 folder: {r.stderr!r}")
        with open(out_raw + ".md", "rb") as f:
            check(b"| ls |" in f.read(), "non-UTF-8 folder: no ls row")
        check(not os.path.exists(out_raw + ".md.tmp"), "rawtable.md.tmp left behind")
        with open(os.path.join(raw, b"run.json"), "w") as f:
            f.write("[]")
        r = subprocess.run([sys.executable, os.path.join(source, "tools", "collect_results.py"),
                            raw], capture_output=True)
        check(r.returncode == 1 and r.stderr == os.fsencode(
            f"collect_results: {tmp}/bad\\x85dir/run.json: a JSON array, not an object "
            "(expected the object mtlhost writes)\n"), f"non-UTF-8 message: {r.stderr!r}")
        # A table that cannot be written leaves no temporary file behind.
        os.mkdir(os.path.join(tmp, "taken.md"))
        r = tool(source, "collect_results.py", a, b, "-o", os.path.join(tmp, "taken"))
        check(r.returncode == 1 and r.stderr == f"collect_results: cannot write "
              f"{os.path.join(tmp, 'taken.md')}: is a directory\n", f"taken: {r.stderr!r}")
        check(not os.path.exists(os.path.join(tmp, "taken.md.tmp")), "taken.md.tmp left behind")
        # the .md and the .csv are written together or not at all
        os.mkdir(os.path.join(tmp, "half.csv"))
        r = tool(source, "collect_results.py", a, b, "-o", os.path.join(tmp, "half"))
        check(r.returncode == 1 and r.stderr == f"collect_results: cannot write "
              f"{os.path.join(tmp, 'half.csv')}: is a directory\n", f"half: {r.stderr!r}")
        check(sorted(n for n in os.listdir(tmp) if n.startswith("half")) == ["half.csv"],
              f"half: {os.listdir(tmp)}")
        r = tool(source, "collect_results.py", os.path.join(tmp, "none"))
        check(r.returncode == 1 and "expected a finished mtlhost run" in r.stderr, r.stderr)

        # Malformed files are refused in one line, never with a traceback.
        def refused(run, want):
            r = tool(source, "collect_results.py", run)
            check(r.returncode == 1 and r.stderr == f"collect_results: {run}{want}\n",
                  f"refusal: {r.stderr!r}")

        def with_run_json(name, content):
            run = make_run(tmp, name, "ls", "nyuv2", (1, 2), 0)
            with open(os.path.join(run, "run.json"), "wb") as f:
                f.write(content)
            return run

        obj = "(expected the object mtlhost writes)"
        refused(with_run_json("j1", b"[]"), f"/run.json: a JSON array, not an object {obj}")
        refused(with_run_json("j2", b"null"), f"/run.json: a JSON null, not an object {obj}")
        refused(with_run_json("j2b", b"true"), f"/run.json: a JSON boolean, not an object {obj}")
        refused(with_run_json("j2n", b"1.5"), f"/run.json: a JSON number, not an object {obj}")
        refused(with_run_json("j2s", b'"x"'), f"/run.json: a JSON string, not an object {obj}")
        refused(with_run_json("j3", b'{"method": {"name": "ls"}, "metrics": []}'),
                f"/run.json: no 'task' with a 'name' {obj}")
        refused(with_run_json("j4", b'{"method": {"name": "ls"}, "task": {"name": "t"}, '
                                    b'"metrics": [{"label": 1}]}'),
                f"/run.json: no 'metrics' list of labels with 'higher_is_better' {obj}")
        refused(with_run_json("j5", b'{"status": "caf\xe9"}'),
                "/run.json: not UTF-8 text (byte 15)")
        # A status that is not a string is shown as JSON, never as Python's repr.
        ls = make_run(tmp, "ls", "ls", "nyuv2", (1, 2), 0, status=["finished"])
        refused(ls, ': the run did not finish (status ["finished"]: still going, or killed) '
                    "(expected a finished mtlhost run)")
        # Nesting deeper than python's recursion allows, and an integer longer than
        # Python 3.11 reads, are refused naming the file (not a RecursionError or
        # ValueError traceback).
        refused(with_run_json("deep", b"[" * 100000 + b"]" * 100000),
                f"/run.json: nested too deeply {obj}")
        refused(with_run_json("long", b'{"seed": ' + b"7" * 5000 + b"}"),
                f"/run.json: a number of 5000 digits {obj}")
        refused(with_run_json("bad", b'{"seed": 1,}'),
                "/run.json: not JSON: Expecting property name enclosed in double quotes "
                "at line 1")
        n = make_run(tmp, "n", "ls", "nyuv2", (1, 2), 0, status="failed", error=None)
        refused(n, ": the run failed (no error recorded) (expected a finished mtlhost run)")
        i = make_run(tmp, "i", "ls", "nyuv2", (1, 2), 0, status="interrupted",
                     error="train: stopped by SIGINT")
        refused(i, ": the run was interrupted: train: stopped by SIGINT "
                   "(expected a finished mtlhost run)")
        t = make_run(tmp, "t", "ls", "nyuv2", (1, 2), 0)
        with open(os.path.join(t, "results.csv"), "w") as f:
            f.write("epoch,mIoU\n1,0.5\n")
        refused(t, "/results.csv has no 'trial' column (expected mtlhost's results table, "
                   "got columns ['epoch', 'mIoU'])")

        # run.json and results.csv must be regular files (symbolic links followed) of at
        # most 16 MiB: a FIFO is refused at once instead of blocking the script forever.
        for name in ("run.json", "results.csv"):
            p = make_run(tmp, "p_" + name, "ls", "nyuv2", (1, 2), 0)
            os.remove(os.path.join(p, name))
            os.mkfifo(os.path.join(p, name))
            try:
                r = tool(source, "collect_results.py", p, timeout=60)
            except subprocess.TimeoutExpired:
                check(False, f"collect_results blocked on {name} as a FIFO")
            check(r.returncode == 1 and r.stderr == f"collect_results: {p}/{name} is a FIFO "
                  "(expected a regular file)\n", f"refusal: {r.stderr!r}")
        d = make_run(tmp, "d", "ls", "nyuv2", (1, 2), 0)
        os.remove(os.path.join(d, "results.csv"))
        os.mkdir(os.path.join(d, "results.csv"))
        refused(d, "/results.csv is a directory (expected a regular file)")
        z = make_run(tmp, "z", "ls", "nyuv2", (1, 2), 0)
        os.remove(os.path.join(z, "run.json"))
        os.symlink(os.devnull, os.path.join(z, "run.json"))
        refused(z, "/run.json is a character device (expected a regular file)")
        os.remove(os.path.join(z, "run.json"))
        os.symlink(os.path.join(a, "run.json"), os.path.join(z, "run.json"))
        r = tool(source, "collect_results.py", z)
        check(r.returncode == 0, f"a symbolic link to a run.json: {r.stderr!r}")
        big = make_run(tmp, "big", "ls", "nyuv2", (1, 2), 0)
        with open(os.path.join(big, "run.json"), "ab") as f:
            f.truncate(16 * 1024 * 1024 + 1)  # sparse: no 16 MiB written
        refused(big, f"/run.json is too large ({16 * 1024 * 1024 + 1} bytes, expected at "
                     "most 16 MiB)")

        # The same folder twice (by realpath) is refused, not read into two rows.
        r = tool(source, "collect_results.py", a, b, a)
        check(r.returncode == 1 and r.stderr == f"collect_results: {a} is given twice\n",
              f"refusal: {r.stderr!r}")
        also = os.path.join(tmp, ".", "b", "")
        r = tool(source, "collect_results.py", b, also)
        check(r.returncode == 1 and r.stderr == f"collect_results: {also} is given twice "
              f"(the same folder as {b})\n", f"refusal: {r.stderr!r}")
        os.symlink(a, os.path.join(tmp, "a_link"))
        r = tool(source, "collect_results.py", os.path.join(tmp, "a_link"), a)
        check(r.returncode == 1 and r.stderr == f"collect_results: {a} is given twice "
              f"(the same folder as {os.path.join(tmp, 'a_link')})\n", f"refusal: {r.stderr!r}")

        # The training figure, written atomically; a task figure run in the same process.
        fig_tool = os.path.join(tmp, "fig.py")
        with open(fig_tool, "w") as f:
            f.write("import sys\nopen(sys.argv[1] + '/task_fig.txt', 'w').write('ok')\n")
        r = tool(source, "plot_run.py", a, "--task-figure", fig_tool)
        check(r.returncode == 0, f"plot_run failed: {r.stderr}")
        with open(os.path.join(a, "training.png"), "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", "training.png is a PNG")
        check(os.path.exists(os.path.join(a, "task_fig.txt")), "the task figure ran")
        check(not [n for n in os.listdir(a) if n.endswith(".tmp")], "no temporary file left")
        r = tool(source, "plot_run.py", os.path.join(tmp, "none"))
        check(r.returncode == 1 and r.stderr.startswith("plot_run: cannot read "), r.stderr)
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[3]))
