#!/usr/bin/env python3
"""List the functions longer than a limit (default 80 lines) in C++ sources.

usage: tools/long-functions.py [--limit N] DIR_OR_FILE...

A function is a brace block that opens at the end of a line which looks like
a function head (a closing parenthesis, maybe followed by const/override/
noexcept or a member initialiser list), counted from that line to its closing
brace. Lambdas and blocks inside a function count toward the function.
Comments and strings are stripped first, so braces in them do not count.
Exits 1 if any function is over the limit, so a test or CI can use it.
"""
import pathlib
import re
import sys

HEAD = re.compile(r"\)\s*(const)?\s*(override|final|noexcept)?\s*(:.*)?\{\s*$")


def strip(text):
    """Remove comments and string/char literals, keeping line breaks."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def long_functions(path, limit):
    lines = strip(path.read_text()).split("\n")
    found, depth, start, name = [], 0, None, ""
    for number, line in enumerate(lines, 1):
        if start is None and HEAD.search(line):
            start, name, open_depth = number, line.strip(), depth
        depth += line.count("{") - line.count("}")
        if start is not None and depth <= open_depth:
            if number - start + 1 > limit:
                found.append((number - start + 1, start, name))
            start = None
    return found


def main():
    args = sys.argv[1:]
    limit = 80
    if args[:1] == ["--limit"]:
        limit, args = int(args[1]), args[2:]
    files = []
    for a in args:
        p = pathlib.Path(a)
        files += sorted(p.rglob("*.cpp")) + sorted(p.rglob("*.h")) if p.is_dir() else [p]
    bad = 0
    for f in files:
        for length, line, name in long_functions(f, limit):
            print(f"{f}:{line}: {length} lines: {name[:90]}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
