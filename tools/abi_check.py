#!/usr/bin/env python3
"""Checks that the C API is the same in three places (stdlib only).

1. include/ibtpo.h: every `ibtpo_*(...)` function declaration (name and arity).
2. The built library: `nm -D --defined-only` globals of libibtpo.so (and, with --static,
   the globals of libibtpo.a) must be exactly those functions; no other symbol may be global.
3. The Python binding's table of argtypes/restype (bindings/python/ibtpo/_lib.py or
   --py-table): the same names, and for each the same arity as the header.

The Python table is parsed without importing the binding (no library load needed). Two
shapes are understood, anywhere in the file:

    "ibtpo_version": (c_uint32, []),                        # dict entry: name: (restype, [argtypes])
    _fn("ibtpo_trainer_save", c_int32, [c_void_p, c_char_p]) # call: name, restype, [argtypes]
    lib.ibtpo_trainer_save.argtypes = [c_void_p, c_char_p]   # plain ctypes attribute style

i.e. a string literal naming an ibtpo_* function followed (within the same entry) by a
restype and a bracketed argtypes list; the arity is the number of top-level items in
that list. `--py-table` may point anywhere else.

Exit status 0 when everything agrees, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

DECL_RE = re.compile(
    r"""(?P<ret>[A-Za-z_][\w\s\*]*?)\s*\**\s*\b(?P<name>ibtpo_\w+)\s*\((?P<args>[^;{]*?)\)\s*;""",
    re.S,
)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def split_top_level(s: str, sep: str = ",") -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def header_functions(path: str) -> dict[str, int]:
    """name -> arity of every ibtpo_* function declared in the header."""
    text = strip_comments(open(path, encoding="utf-8").read())
    # Drop preprocessor lines (macros such as IBTPO_VERSION_NUMBER are not functions).
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    funcs: dict[str, int] = {}
    for m in DECL_RE.finditer(text):
        name, args = m.group("name"), m.group("args").strip()
        if "typedef" in m.group("ret"):
            continue
        arity = 0 if args in ("", "void") else len(split_top_level(args))
        if name in funcs and funcs[name] != arity:
            raise SystemExit(f"abi-check: {name} declared twice with different arity")
        funcs[name] = arity
    return funcs


def nm_globals(path: str, dynamic: bool) -> tuple[set[str], set[str]]:
    """(ibtpo_* functions, other global defined symbols) of a .so (-D) or a .a."""
    cmd = ["nm", "--defined-only", "-D" if dynamic else "-g", path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    funcs, others = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # archive member headers, blank lines
        _, kind, name = parts
        if not kind.isupper():
            continue  # local symbols that happen to sit in .dynsym
        name = name.split("@")[0]
        if name.startswith("ibtpo_") and kind in "TW":
            funcs.add(name)
        else:
            others.add(f"{name} ({kind})")
    return funcs, others


PY_ENTRY_RE = re.compile(r"""["'](?P<name>ibtpo_\w+)["']\s*[:,]|\b(?P<attr>ibtpo_\w+)\.argtypes\s*=""")


def python_table(path: str) -> dict[str, int]:
    """name -> arity from a ctypes table (see the module docstring for the shapes)."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"#[^\n]*", "", text)
    table: dict[str, int] = {}
    matches = list(PY_ENTRY_RE.finditer(text))
    for k, m in enumerate(matches):
        name = m.group("name") or m.group("attr")
        # The entry's argtypes are the first [...] after the name, before the next entry.
        limit = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        start = text.find("[", m.end(), limit)
        if start < 0:
            continue  # a mention of the name that is not a table entry
        depth, i = 0, start
        while i < limit:
            if text[i] in "([{":
                depth += 1
            elif text[i] in ")]}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if i >= limit or text[i] != "]":
            continue
        table[name] = len(split_top_level(text[start + 1 : i]))
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--header", default="include/ibtpo.h")
    ap.add_argument("--lib", default="dist/lib/libibtpo.so")
    ap.add_argument("--static", default=None, help="also check this static archive")
    ap.add_argument("--py-table", default=None, help="default: bindings/python/ibtpo/_lib.py if it exists")
    args = ap.parse_args()

    problems: list[str] = []
    hdr = header_functions(args.header)
    if not hdr:
        problems.append(f"no ibtpo_* declarations found in {args.header}")
    print(f"abi-check: {len(hdr)} functions declared in {args.header}")

    for path, dynamic in [(args.lib, True)] + ([(args.static, False)] if args.static else []):
        if not os.path.exists(path):
            problems.append(f"{path} does not exist (run `make lib`)")
            continue
        funcs, others = nm_globals(path, dynamic)
        missing, extra = sorted(set(hdr) - funcs), sorted(funcs - set(hdr))
        for n in missing:
            problems.append(f"{path}: {n} is declared in the header but not exported")
        for n in extra:
            problems.append(f"{path}: {n} is exported but not declared in the header")
        for n in sorted(others)[:20]:
            problems.append(f"{path}: non-API global symbol {n}")
        if len(others) > 20:
            problems.append(f"{path}: ... and {len(others) - 20} more non-API globals")
        print(f"abi-check: {len(funcs)} ibtpo_* functions and {len(others)} other globals in {path}")

    py = args.py_table
    if py is None:
        for cand in ("bindings/python/ibtpo/_lib.py", "bindings/python/ibtpo/_ffi.py", "bindings/python/ibtpo/_abi.py"):
            if os.path.exists(cand):
                py = cand
                break
    if py is None or not os.path.exists(py):
        print("abi-check: python table not present yet (bindings/python/ibtpo/_lib.py); header vs binding skipped")
    else:
        table = python_table(py)
        print(f"abi-check: {len(table)} functions in the Python table {py}")
        for n in sorted(set(hdr) - set(table)):
            problems.append(f"{py}: {n} is declared in the header but missing from the binding table")
        for n in sorted(set(table) - set(hdr)):
            problems.append(f"{py}: {n} is in the binding table but not declared in the header")
        for n in sorted(set(hdr) & set(table)):
            if hdr[n] != table[n]:
                problems.append(f"{py}: {n} takes {table[n]} argtypes, the header declares {hdr[n]} parameters")

    for p in problems:
        print(f"abi-check: FAIL {p}")
    if problems:
        return 1
    print("abi-check: OK — header, exports" + ("" if py is None or not os.path.exists(py) else " and binding")
          + " agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
