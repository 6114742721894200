"""Compares `ibtpo <command> --print-config` output with the C API's defaults, read through
the Python binding (whose dataclasses take their defaults from the library's *_default()
fillers at import).

    python3 compare_defaults.py CLI_OUTPUT [SKIP_KEY ...]

CLI_OUTPUT holds `section.field = value` lines (model., trainer., rl., eval.); SKIP_KEY are
keys the command derives from its other options (the caller says why). Every other key must
equal the C default: integers and names exactly, floats to float32 precision. Prints the
number of keys compared and the worst relative float difference; exits 1 on a mismatch.
"""
import math
import sys

import ibtpo
from ibtpo.config import ENUMS

ROOTS = {"model": ibtpo.ModelConfig(), "trainer": ibtpo.TrainerConfig(), "rl": ibtpo.RLConfig(),
         "eval": ibtpo.EvalConfig()}


def c_default(key):
    section, *path = key.split(".")
    obj = ROOTS[section]
    for name in path:
        obj = getattr(obj, name + "_" if name == "lambda" else name)
    return obj


def main():
    lines = open(sys.argv[1]).read().splitlines()
    skip = set(sys.argv[2:])
    compared, worst, bad = 0, 0.0, []
    seen = set()
    for line in lines:
        key, _, value = (s.strip() for s in line.partition("="))
        seen.add(key)
        if key in skip:
            continue
        want = c_default(key)
        field = key.split(".")[-1]
        if field in ENUMS and not value.lstrip("-").isdigit():
            got = ENUMS[field][value]
        elif isinstance(want, bool) or isinstance(want, int):
            got = int(value)
        else:
            got = float(value)
        if isinstance(want, float):
            rel = abs(got - want) / max(abs(want), 1e-30)
            worst = max(worst, rel)
            ok = math.isclose(got, want, rel_tol=1e-6)
        else:
            ok = got == want
        compared += 1
        if not ok:
            bad.append(f"{key}: CLI {value}, C {want}")
    missing = skip - seen
    if missing:
        bad.append("skipped keys not printed: " + ", ".join(sorted(missing)))
    print(f"{compared} keys equal to the C defaults, worst relative float difference {worst:.1e}"
          if not bad else "MISMATCH " + "; ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
