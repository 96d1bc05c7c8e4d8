"""The one form every `make results` stage writes its data in:

    {"meta": {"stage", "commit", "command", "date", "machine": {...}, ...},
     "rows": [...]}

commit is `git rev-parse HEAD`, with "-dirty" when the tree has uncommitted
changes; machine is bench_machine's block (CPU model, logical CPUs, threads,
the FMA peak and the SGEMM rate on one core and on all threads), measured
when the stage writes its data, so that every file carries the ceilings of
its own run.

    python3 tools/results/meta.py write --stage NAME --command "CMD" --build BUILD \
        [--quick] --rows ROWS.json --out FILE.json

ROWS.json holds a list of rows, or {"rows": [...], "meta": {...}, ...} whose
meta keys (the peer's version, say) join the standard ones, and whose other
keys (a second table, say) are written beside "rows".
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], check=True, capture_output=True, text=True).stdout.strip()


def commit():
    """HEAD's hash, "-dirty" added when tracked or untracked (not ignored) files differ from it."""
    head = git("rev-parse", "HEAD")
    return head + ("-dirty" if git("status", "--porcelain") else "")


def machine(build, quick=False):
    """bench_machine's JSON block, measured now."""
    cmd = [os.path.join(build, "bench_machine"), "--json"] + (["--quick"] if quick else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def meta(stage, command, build, quick=False):
    return {"stage": stage, "commit": commit(), "command": command,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": quick, "machine": machine(build, quick)}


def write(path, stage, command, build, rows, extra=None, quick=False, tables=None):
    m = meta(stage, command, build, quick)
    m.update(extra or {})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({**(tables or {}), "meta": m, "rows": rows}, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("write")
    w.add_argument("--stage", required=True)
    w.add_argument("--command", required=True)
    w.add_argument("--build", required=True)
    w.add_argument("--rows", required=True, help="a JSON file, or - for standard input")
    w.add_argument("--out", required=True)
    w.add_argument("--quick", action="store_true")
    c = sub.add_parser("commit", help="print the data file's commit (for the skip message)")
    c.add_argument("file")
    args = ap.parse_args()
    if args.what == "commit":
        full = json.load(open(args.file))["meta"]["commit"]
        print(full[:7] + ("-dirty" if full.endswith("-dirty") else ""))
        return
    data = json.load(sys.stdin if args.rows == "-" else open(args.rows))
    if isinstance(data, list):
        data = {"rows": data}
    tables = {k: v for k, v in data.items() if k not in ("rows", "meta")}
    write(args.out, args.stage, args.command, args.build, data["rows"], data.get("meta", {}), args.quick, tables)


if __name__ == "__main__":
    main()
