"""version(), the major-version check at load, status strings and the error type."""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap

import pytest

import ibtpo
from ibtpo import _lib

from conftest import REPO

PKG_DIR = os.path.dirname(os.path.dirname(ibtpo.__file__))


def test_version_matches_header_major():
    major, minor, patch = ibtpo.version()
    assert major == ibtpo.EXPECTED_MAJOR == 0
    assert ibtpo.version_number() == (major << 16) | (minor << 8) | patch
    assert (minor, patch) >= (_lib.EXPECTED_MINOR, 0)


def test_every_table_function_is_exported():
    assert _lib.LIB.missing == []
    assert os.path.exists(ibtpo.LIBRARY_PATH)


def test_swift_backtrace_disabled():
    assert os.environ.get("SWIFT_BACKTRACE")


def test_status_strings():
    texts = [ibtpo.status_string(c) for c in range(13)]
    assert texts[0] == "ok"
    assert all(t and t != "unknown status" for t in texts)
    assert len(set(texts)) == 13
    for code in (-1, 13, 99, -(2**31), 2**31 - 1, 2**40, -(2**40)):
        assert ibtpo.status_string(code) == "unknown status"


def test_status_names_cover_every_header_code():
    import re
    with open(os.path.join(REPO, "include", "ibtpo.h")) as f:
        header = dict((n, int(v)) for n, v in re.findall(r"#define (IBTPO_(?:OK|ERR_\w+)) (\d+)", f.read()))
    if not header:
        pytest.skip("include/ibtpo.h not available (not a source checkout)")
    assert {v: k for k, v in header.items()} == ibtpo.STATUS_NAMES
    for name, value in header.items():
        assert getattr(ibtpo, name[len("IBTPO_"):]) == value


def test_error_carries_code_status_message_and_pickles():
    e = ibtpo._errors.error(ibtpo.ERR_BAD_CHECKPOINT, "checksum mismatch")
    assert isinstance(e, ibtpo.IBTPOError) and type(e) is ibtpo.IBTPOError
    assert (e.code, e.status, e.message) == (4, "IBTPO_ERR_BAD_CHECKPOINT", "checksum mismatch")
    assert "bad checkpoint" in str(e) and "checksum mismatch" in str(e)
    e2 = pickle.loads(pickle.dumps(e))
    assert (type(e2), e2.code, e2.message) == (type(e), e.code, e.message)
    assert isinstance(ibtpo._errors.error(1), ValueError)
    assert isinstance(ibtpo._errors.error(9), ibtpo.BadDataError)
    assert ibtpo._errors.error(77).status == "IBTPO_UNKNOWN(77)"


def _import_in_subprocess(env_lib: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, IBTPO_LIBRARY=env_lib, PYTHONPATH=PKG_DIR)
    return subprocess.run([sys.executable, "-c", "import ibtpo"], env=env, capture_output=True, text=True,
                          timeout=60)


def test_missing_library_gives_a_clear_import_error(tmp_path):
    r = _import_in_subprocess(str(tmp_path / "nope" / "libibtpo.so"))
    assert r.returncode != 0
    assert "ImportError" in r.stderr or "LibraryNotFoundError" in r.stderr
    assert "IBTPO_LIBRARY" in r.stderr and "make lib" in r.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_wrong_major_version_is_refused(tmp_path):
    src = tmp_path / "fake.c"
    src.write_text(textwrap.dedent("""
        #include <stdint.h>
        uint32_t ibtpo_version(void) { return (1u << 16) | (0u << 8) | 0u; }
    """))
    so = tmp_path / "libibtpo.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    r = _import_in_subprocess(str(so))
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "major version 0" in r.stderr and "1.0.0" in r.stderr


def test_library_discovery_order(monkeypatch):
    monkeypatch.setenv("IBTPO_LIBRARY", "/x/libibtpo.so")
    assert _lib.candidate_paths() == [("$IBTPO_LIBRARY", "/x/libibtpo.so")]
    monkeypatch.delenv("IBTPO_LIBRARY")
    paths = [p for _, p in _lib.candidate_paths()]
    assert paths[0] == os.path.join(os.path.dirname(ibtpo.__file__), "libibtpo.so")
    assert paths[1] == os.path.join(REPO, "dist", "lib", "libibtpo.so")


def test_checkout_discovery_without_env(tmp_path):
    """From a checkout with no $IBTPO_LIBRARY, the repo's dist/lib/libibtpo.so is found."""
    if not os.path.exists(os.path.join(REPO, "dist", "lib", "libibtpo.so")):
        pytest.skip("no dist/lib/libibtpo.so in this checkout")
    env = {k: v for k, v in os.environ.items() if k != "IBTPO_LIBRARY"}
    env["PYTHONPATH"] = PKG_DIR
    r = subprocess.run([sys.executable, "-c", "import ibtpo; print(ibtpo.LIBRARY_PATH)"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.path.samefile(r.stdout.strip(), os.path.join(REPO, "dist", "lib", "libibtpo.so"))
