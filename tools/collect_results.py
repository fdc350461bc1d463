#!/usr/bin/env python3
"""Collect several runs of one task into the paper's results table.

    collect_results.py RUN_DIR [RUN_DIR ...] [-o OUT]

Each RUN_DIR is a finished mtlhost run (run.json and results.csv), one per
method, all on the same task.  The table has one row per method with:

  - each metric's value (the mean over trials of each trial's selected
    epoch, as results.csv gives it), headed with its unit and an arrow for
    its direction (up: higher is better, down: lower is better);
  - Delta_m in % (lower is better), when the task gives baselines;
  - the mean rank over the metrics (1 = the best method on a metric; ties
    share the mean of their ranks; lower is better), as the paper's MR.

Without -o the Markdown table is printed; with -o OUT it is written to
OUT.md and the same table to OUT.csv (a trailing .md or .csv of OUT is
dropped), each under a temporary name renamed into place.  Problems end the
script with one line on stderr and exit status 1: among them a run folder
given twice, a run.json or results.csv that is not a regular file (a FIFO,
a directory, a device; symbolic links are followed) or is over 16 MiB, and
a run.json nested too deeply to read.  Runs whose config.ini differ in a
[train] or [task] key (epochs, seed, data...) are still tabled, with one
warning line on stderr for each such key.
"""

import argparse
import csv
import io
import json
import math
import os
import stat
import sys

PROG = "collect_results"
UP, DOWN = "\u2191", "\u2193"
MAX_BYTES = 16 << 20  # the most read of run.json or results.csv (a run's are a few KiB)
MAX_DIGITS = 4300  # the longest integer read from run.json (Python 3.11's limit, on any python)


class CollectError(Exception):
    """A problem to report in one line."""


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def json_type(value):
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def file_kind(mode):
    """What a file that is not a regular one is, from its st_mode."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def read_bytes(run_dir, name):
    """The bytes of RUN_DIR/NAME, a regular file (after symbolic links) of at most
    MAX_BYTES; it is opened without blocking, so a FIFO put in its place cannot
    hang the script."""
    path = os.path.join(run_dir, name)
    shown = f"{run_dir}/{name}"

    def check_stat(st):
        if not stat.S_ISREG(st.st_mode):
            raise CollectError(f"{shown} is {file_kind(st.st_mode)} (expected a regular file)")
        if st.st_size > MAX_BYTES:
            raise CollectError(f"{shown} is too large ({st.st_size} bytes, expected at most "
                               f"{MAX_BYTES >> 20} MiB)")

    try:
        check_stat(os.stat(path))  # before opening: opening a device may do something
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            check_stat(os.fstat(f.fileno()))  # what was opened, should it have been replaced
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise CollectError(f"{run_dir}: {e.filename or path}: {e.strerror.lower()} "
                           "(expected a finished mtlhost run)") from None
    if len(data) > MAX_BYTES:  # grew since the stat
        raise CollectError(f"{shown} is too large (over {MAX_BYTES} bytes, expected at most "
                           f"{MAX_BYTES >> 20} MiB)")
    return data


def check_run_info(run_dir, info):
    """run.json has what the table needs: the task and method names and the metrics."""
    def bad(what):
        return CollectError(f"{run_dir}/run.json: {what} (expected the object mtlhost writes)")

    if not isinstance(info, dict):
        raise bad(f"a JSON {json_type(info)}, not an object")
    for key in ("task", "method"):
        part = info.get(key)
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise bad(f"no '{key}' with a 'name'")
    metrics = info.get("metrics")
    if not isinstance(metrics, list) or not all(
            isinstance(m, dict) and isinstance(m.get("label"), str)
            and isinstance(m.get("higher_is_better"), bool) for m in metrics):
        raise bad("no 'metrics' list of labels with 'higher_is_better'")


def read_run(run_dir):
    """(run.json's content, the row of results.csv to report) of one run."""
    shown = f"{run_dir}/run.json"

    def integer(digits):
        if len(digits.lstrip("-")) > MAX_DIGITS:
            raise CollectError(f"{shown}: a number of {len(digits.lstrip('-'))} digits "
                               "(expected the object mtlhost writes)")
        return int(digits)

    data = read_bytes(run_dir, "run.json")
    try:
        info = json.loads(data.decode("utf-8"), parse_int=integer)
    except UnicodeDecodeError as e:
        raise CollectError(f"{shown}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CollectError(f"{shown}: not JSON: {e.msg} at line {e.lineno}") from None
    except RecursionError:
        raise CollectError(f"{shown}: nested too deeply "
                           "(expected the object mtlhost writes)") from None
    except ValueError as e:
        raise CollectError(f"{shown}: not JSON: {e}") from None
    check_run_info(run_dir, info)
    # A run that failed or was killed has no results.csv yet: say why.
    status = info.get("status", "finished")
    if status != "finished":
        error = info.get("error")
        said = isinstance(error, str) and error
        why = (f"{status}: {error}" if status in ("failed", "interrupted") and said
               else f"{status} (no error recorded)" if status in ("failed", "interrupted")
               else f"did not finish (status {json.dumps(status)}: still going, or killed)")
        why = "was " + why if status == "interrupted" else why
        raise CollectError(f"{run_dir}: the run {why} (expected a finished mtlhost run)")
    data = read_bytes(run_dir, "results.csv")
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        rows = list(reader)
        columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as e:
        raise CollectError(f"{run_dir}/results.csv: not a CSV table: {e}") from None
    if not rows:
        raise CollectError(f"{run_dir}/results.csv has no rows (expected one per trial)")
    if "trial" not in columns:
        raise CollectError(f"{run_dir}/results.csv has no 'trial' column "
                           f"(expected mtlhost's results table, got columns {columns})")
    mean = [r for r in rows if r["trial"] == "mean"]
    return info, mean[0] if mean else rows[0]


def check_same_task(runs):
    first = runs[0][1]["task"]["name"]
    for run_dir, info, _ in runs[1:]:
        if info["task"]["name"] != first:
            raise CollectError(f"{run_dir} is a run of task {info['task']['name']} "
                               f"(expected {first}, the task of {runs[0][0]})")
        if [m["label"] for m in info["metrics"]] != [m["label"] for m in runs[0][1]["metrics"]]:
            raise CollectError(f"{run_dir} has other metrics than {runs[0][0]}")


def read_protocol(run_dir):
    """The [train] and [task] keys of RUN_DIR/config.ini as {"train.epochs": "3", ...} (the
    value without an inline " ; comment", as inih reads it), or None when the run has no
    config.ini (the table does not need it)."""
    if not os.path.lexists(os.path.join(run_dir, "config.ini")):
        return None
    # bytes that are not UTF-8 stay themselves (two different ones compare as different)
    text = read_bytes(run_dir, "config.ini").decode("utf-8", errors="surrogateescape")
    keys, section = {}, None
    for line in text.split("\n"):  # as inih: lines end at \n only (not at U+0085, U+2028)
        line = line.strip(" \t\r")
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif "=" in line and section in ("train", "task"):
            key, value = line.split("=", 1)
            for blank in (" ;", "\t;"):
                value = value.split(blank, 1)[0]
            key, value = key.strip(" \t"), value.strip(" \t")
            keys[f"{section}.{key}"] = value
    return keys


def same_value(a, b):
    """Two config values are the same text, or the same number (1e-3 and 0.001)."""
    if a == b:
        return True
    try:
        return int(a) == int(b)  # exactly, however large (seeds)
    except ValueError:
        pass
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def protocol_differences(runs):
    """One warning line per [train]/[task] key whose value differs between the runs, and one
    per run whose config.ini cannot be read (its protocol is then not compared)."""
    protocols, lines = [], []
    for run_dir, _, _ in runs:
        try:
            keys = read_protocol(run_dir)
        except CollectError as e:
            lines.append(f"{PROG}: warning: {e}; its configuration is not compared")
            continue
        if keys is not None:
            protocols.append((run_dir, keys))
    for key in sorted({k for _, p in protocols for k in p}):
        values = [(d, p.get(key, "(not set)")) for d, p in protocols]
        if any(not same_value(values[0][1], v) for _, v in values[1:]):
            shown = ", ".join(f"{d}: {v}" for d, v in values)
            lines.append(f"{PROG}: warning: the runs differ in {key} ({shown}); the table "
                         "compares them as they are")
    return lines


def labels(runs):
    """One row label per run: the method, with the run's folder when a method repeats."""
    methods = [info["method"]["name"] for _, info, _ in runs]
    out = []
    for (run_dir, info, _), method in zip(runs, methods):
        name = os.path.basename(os.path.normpath(run_dir))
        out.append(f"{method} ({name})" if methods.count(method) > 1 else method)
    return out


def ranks(values, higher_is_better):
    """Rank of each value among the finite ones (1 = best, ties averaged); NaN stays NaN."""
    finite = sorted((v for v in values if not math.isnan(v)), reverse=higher_is_better)
    out = []
    for v in values:
        if math.isnan(v):
            out.append(math.nan)
            continue
        positions = [i + 1 for i, w in enumerate(finite) if w == v]
        out.append(sum(positions) / len(positions))
    return out


def build_table(runs):
    metrics = runs[0][1]["metrics"]
    header = ["method"]
    for m in metrics:
        unit = f" [{m['unit']}]" if m.get("unit") else ""
        header.append(f"{m['label']}{unit} {UP if m['higher_is_better'] else DOWN}")
    with_delta = any(m.get("baseline") is not None for m in metrics)
    if with_delta:
        header.append(f"Delta_m % {DOWN}")
    header.append(f"mean rank {DOWN}")

    values = [[number(row.get(m["label"])) for m in metrics] for _, _, row in runs]
    per_metric = [ranks([v[j] for v in values], m["higher_is_better"])
                  for j, m in enumerate(metrics)]
    rows = []
    for i, (label, (_, _, row)) in enumerate(zip(labels(runs), runs)):
        cells = [label] + values[i]
        if with_delta:
            delta = number(row.get("test_delta_m"))
            cells.append(delta if not math.isnan(delta) else number(row.get("val_delta_m")))
        mine = [r[i] for r in per_metric if not math.isnan(r[i])]
        cells.append(sum(mine) / len(mine) if mine else math.nan)
        rows.append(cells)
    return header, rows


def fmt(x):
    if isinstance(x, str):
        return x
    return "-" if math.isnan(x) else f"{x:.4g}"


def markdown(header, rows, task):
    out = io.StringIO()
    out.write(f"# {task}: results\n\n")
    out.write("| " + " | ".join(header) + " |\n")
    out.write("| --- |" + " ---: |" * (len(header) - 1) + "\n")
    for cells in rows:
        out.write("| " + " | ".join(fmt(c) for c in cells) + " |\n")
    return out.getvalue()


def csv_text(header, rows):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for cells in rows:
        w.writerow([c if isinstance(c, str) else ("" if math.isnan(c) else f"{c:.9g}")
                    for c in cells])
    return out.getvalue()


def write_atomic(files):
    """Writes each (path, text) under path.tmp, then renames them all into place; on a
    failure no .tmp is left and no file of the set is replaced."""
    written = []
    try:
        for path, text in files:
            tmp = path + ".tmp"
            written.append(tmp)
            # a folder name that is not UTF-8 reaches the table as it is (surrogateescape)
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for path, _ in files:
            if os.path.isdir(path):  # the rename below would fail after the first one
                raise IsADirectoryError(21, "Is a directory", path)
        for path, _ in files:
            os.replace(path + ".tmp", path)
    except BaseException as e:
        for tmp in written:
            try:
                os.remove(tmp)  # nothing half written is left behind
            except OSError:
                pass
        if isinstance(e, OSError):
            raise CollectError(f"cannot write {e.filename or path}: "
                               f"{e.strerror.lower()}") from None
        raise


def printable(text):
    """text with its control characters (C0 but tab, DEL, C1) as their UTF-8 bytes in \\xNN
    form, as mtlhost shows them, so that a message is one line and a folder's name cannot
    send escapes to the terminal."""
    def show(c):
        if (ord(c) < 0x20 and c != "\t") or 0x7f <= ord(c) < 0xa0:
            return "".join(f"\\x{b:02x}" for b in c.encode("utf-8"))
        if 0xdc80 <= ord(c) <= 0xdcff:  # a byte of a name that is not UTF-8
            return f"\\x{ord(c) - 0xdc00:02x}"
        return c
    return "".join(show(c) for c in text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--output", metavar="OUT")
    args = parser.parse_args(argv)
    try:
        seen = {}  # realpath -> the first RUN_DIR that names it
        for d in args.run_dirs:
            key = os.path.realpath(d)
            if key in seen:
                also = "" if seen[key] == d else f" (the same folder as {seen[key]})"
                raise CollectError(f"{d} is given twice{also}")
            seen[key] = d
        runs = [(d, *read_run(d)) for d in args.run_dirs]
        check_same_task(runs)
        for line in protocol_differences(runs):
            print(printable(line), file=sys.stderr)
        header, rows = build_table(runs)
        md = markdown(header, rows, runs[0][1]["task"]["name"])
        if not args.output:
            sys.stdout.flush()
            sys.stdout.buffer.write(md.encode("utf-8", "surrogateescape"))
            return 0
        base = args.output
        for ext in (".md", ".csv"):
            if base.endswith(ext):
                base = base[: -len(ext)]
        write_atomic([(base + ".md", md), (base + ".csv", csv_text(header, rows))])
        print(printable(f"{PROG}: wrote {base}.md and {base}.csv"))
    except CollectError as e:
        print(f"{PROG}: {printable(str(e))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
