"""The binding's prototype table and struct mirrors against include/ibtpo.h."""
from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import os
import shutil
import subprocess

import pytest

import ibtpo
from ibtpo import _lib

from conftest import HEADER, REPO

needs_header = pytest.mark.skipif(not os.path.exists(HEADER), reason="not a source checkout")


def _fields(cls, prefix=""):
    """(dotted field name, offset) of every leaf field of a struct mirror."""
    out = []
    for name, typ in cls._fields_:
        off = getattr(cls, name).offset
        if isinstance(typ, type) and issubclass(typ, ctypes.Structure):
            out += [(f"{prefix}{name}.{n}", off + o) for n, o in _fields(typ)]
        else:
            out.append((prefix + name, off))
    return out


@needs_header
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_struct_layouts_match_the_c_compiler(tmp_path):
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "ibtpo.h"', "int main(void) {"]
    expected = []
    for cname, cls in _lib.STRUCTS.items():
        lines.append(f'  printf("{cname} %zu\\n", sizeof({cname}));')
        expected.append(f"{cname} {ctypes.sizeof(cls)}")
        for field, off in _fields(cls):
            lines.append(f'  printf("{cname}.{field} %zu\\n", offsetof({cname}, {field}));')
            expected.append(f"{cname}.{field} {off}")
    lines += ["  return 0;", "}"]
    (tmp_path / "sizes.c").write_text("\n".join(lines) + "\n")
    exe = tmp_path / "sizes"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", os.path.dirname(HEADER), "-o", str(exe),
                    str(tmp_path / "sizes.c")], check=True)
    got = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    assert [g for g in got if g] == expected


@needs_header
def test_struct_mirrors_have_every_header_field():
    """Field names and order, parsed from the header's typedef struct blocks."""
    import re
    with open(HEADER) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    blocks = dict(re.findall(r"typedef struct (ibtpo_\w+) \{(.*?)\}", text, flags=re.S))
    assert set(blocks) == set(_lib.STRUCTS)
    for cname, body in blocks.items():
        names = []
        for decl in body.split(";"):
            decl = decl.strip()
            if decl:
                names += [n.strip() for n in decl.split(None, 1)[1].split(",")]
        assert names == [n for n, _ in _lib.STRUCTS[cname]._fields_], cname


@needs_header
def test_prototype_table_matches_header_names_and_arity():
    spec = importlib.util.spec_from_file_location("abi_check", os.path.join(REPO, "tools", "abi_check.py"))
    abi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(abi)
    header = abi.header_functions(HEADER)
    table = {name: len(args) for name, (_, args) in _lib._PROTOTYPES.items()}
    assert table == header
    assert abi.python_table(_lib.__file__) == header  # what `make abi-check` parses


def test_struct_sizes_reported_by_the_library():
    m, t = _lib.ibtpo_model_config(), _lib.ibtpo_trainer_config()
    assert _lib.LIB.ibtpo_model_config_default(ctypes.byref(m)) == 0
    assert _lib.LIB.ibtpo_trainer_config_default(ctypes.byref(t)) == 0
    assert m.struct_size == ctypes.sizeof(m)
    assert (t.struct_size, t.model.struct_size) == (ctypes.sizeof(t), ctypes.sizeof(m))
    s, e, r = _lib.ibtpo_sampling_config(), _lib.ibtpo_eval_config(), _lib.ibtpo_rl_config()
    assert _lib.LIB.ibtpo_sampling_config_default(ctypes.byref(s)) == 0
    assert _lib.LIB.ibtpo_eval_config_default(ctypes.byref(e)) == 0
    assert _lib.LIB.ibtpo_rl_config_default(ctypes.byref(r)) == 0
    assert s.struct_size == ctypes.sizeof(s)
    assert (e.struct_size, e.sampling.struct_size) == (ctypes.sizeof(e), ctypes.sizeof(s))
    assert (r.struct_size, r.sampling.struct_size) == (ctypes.sizeof(r), ctypes.sizeof(s))


def test_fillers_write_no_byte_past_the_struct():
    """Each *_default() filler writes exactly sizeof(struct) bytes: a guard region after the
    struct, filled with a pattern, is intact afterwards."""
    for cls, name in _lib.FILLED.items():
        size = ctypes.sizeof(cls)
        buf = ctypes.create_string_buffer(b"\xa5" * (size + 64), size + 64)
        assert getattr(_lib.LIB, name)(ctypes.cast(buf, ctypes.POINTER(cls))) == 0, name
        assert buf.raw[size:] == b"\xa5" * 64, name
        assert cls.from_buffer_copy(buf.raw[:size]).struct_size == size, name


def test_fillers_reject_null():
    for cls, name in _lib.FILLED.items():
        assert getattr(_lib.LIB, name)(None) == ibtpo.ERR_INVALID_ARGUMENT, name


def _py_name(c_name):
    return c_name + "_" if c_name == "lambda" else c_name


@pytest.mark.parametrize("dc,st", [
    (ibtpo.ModelConfig, _lib.ibtpo_model_config), (ibtpo.TrainerConfig, _lib.ibtpo_trainer_config),
    (ibtpo.SamplingConfig, _lib.ibtpo_sampling_config), (ibtpo.EvalConfig, _lib.ibtpo_eval_config),
    (ibtpo.RLConfig, _lib.ibtpo_rl_config), (ibtpo.EvalResult, _lib.ibtpo_eval_result),
    (ibtpo.RLMetrics, _lib.ibtpo_rl_metrics),
], ids=lambda x: getattr(x, "__name__", "?"))
def test_dataclasses_mirror_the_structs(dc, st):
    assert [f.name for f in dataclasses.fields(dc)] == [_py_name(n) for n, _ in st._fields_ if n != "struct_size"]


@needs_header
def test_constants_match_the_header():
    """Every #define of the header (tokens, splits, log levels, algos, branch rules, loss
    aggregation, π̄ forms, status codes) has the same value in the binding."""
    import re
    with open(HEADER) as f:
        defines = dict((n, int(v)) for n, v in re.findall(r"#define IBTPO_(\w+) (-?\d+)\b", f.read()))
    skip = {"VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH"}
    checked = 0
    for name, value in defines.items():
        if name in skip:
            continue
        assert getattr(ibtpo, name) == value, name
        assert getattr(_lib, name, value) == value, name
        checked += 1
    assert checked >= 11 + 18  # 11 status codes + the 18 constants of the extended API
    assert (_lib.EXPECTED_MAJOR, _lib.EXPECTED_MINOR) == (defines["VERSION_MAJOR"], defines["VERSION_MINOR"])


@needs_header
def test_abi_check_notices_a_wrong_table(tmp_path):
    """`make abi-check` parses this table: a dropped argtype or entry must make it fail."""
    import sys
    with open(_lib.__file__) as f:
        src = f.read()
    broken = {
        "arity": src.replace('"ibtpo_trainer_save": (ibtpo_status, [ibtpo_trainer_p, c_char_p])',
                             '"ibtpo_trainer_save": (ibtpo_status, [ibtpo_trainer_p])'),
        "missing": src.replace('    "ibtpo_trainer_get_step": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int64)]),\n', ""),
    }
    for name, text in broken.items():
        assert text != src, name
        p = tmp_path / f"{name}.py"
        p.write_text(text)
        r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "abi_check.py"), "--header", HEADER,
                            "--lib", os.devnull + ".none", "--py-table", str(p)], capture_output=True, text=True)
        assert r.returncode == 1
        assert ("ibtpo_trainer_save takes 1 argtypes" in r.stdout) if name == "arity" else \
            ("ibtpo_trainer_get_step is declared in the header but missing" in r.stdout), r.stdout


_FAKE_LIB = r"""
#include <string.h>
#include "ibtpo.h"
uint32_t ibtpo_version(void) { return IBTPO_VERSION_NUMBER; }
const char *ibtpo_status_string(ibtpo_status s) { return s == 8 ? "not supported" : "other"; }
const char *ibtpo_last_error(const ibtpo_trainer *t) { (void)t; return ""; }
ibtpo_status ibtpo_model_config_default(ibtpo_model_config *c) {
    memset(c, 0, sizeof *c); c->struct_size = sizeof *c; c->vocab = 259; return 0; }
ibtpo_status ibtpo_trainer_config_default(ibtpo_trainer_config *c) {
    memset(c, 0, sizeof *c); c->struct_size = sizeof *c; ibtpo_model_config_default(&c->model); return 0; }
#ifdef WITH_SAMPLING
ibtpo_status ibtpo_sampling_config_default(ibtpo_sampling_config *c) {
    memset(c, 0, sizeof *c); c->struct_size = sizeof *c + 8; return 0; }
#endif
"""


def _fake_library(tmp_path, *defines):
    src = tmp_path / "fake.c"
    src.write_text(_FAKE_LIB)
    so = tmp_path / "libibtpo.so"
    subprocess.run(["cc", "-shared", "-fPIC", *[f"-D{d}" for d in defines], "-I", os.path.dirname(HEADER),
                    "-o", str(so), str(src)], check=True)
    return so


def _run_with(so, code):
    import sys
    env = dict(os.environ, IBTPO_LIBRARY=str(so), PYTHONPATH=os.path.dirname(os.path.dirname(ibtpo.__file__)))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


@needs_header
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_an_older_library_without_the_new_functions_gives_not_supported(tmp_path):
    """Table functions the library lacks are stubs raising IBTPO_ERR_NOT_SUPPORTED; the
    config dataclasses still import (zeroed defaults for the missing fillers)."""
    so = _fake_library(tmp_path)
    r = _run_with(so, "import ibtpo\n"
                      "assert 'ibtpo_tokenize' in ibtpo._lib.LIB.missing\n"
                      "assert ibtpo.RLConfig().beta == 0.0\n"
                      "try:\n    ibtpo.tokenize(b'a')\nexcept ibtpo.IBTPOError as e:\n    print(e.code, e.status)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "8 IBTPO_ERR_NOT_SUPPORTED"


@needs_header
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_a_library_with_another_sampling_config_size_is_refused(tmp_path):
    so = _fake_library(tmp_path, "WITH_SAMPLING")
    r = _run_with(so, "import ibtpo")
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "sizeof(ibtpo_sampling_config)" in r.stderr, r.stderr
