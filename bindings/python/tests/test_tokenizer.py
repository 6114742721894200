"""tokenize / detokenize: round trips (NUL included), special tokens, the size query."""
from __future__ import annotations

import ctypes

import pytest

import ibtpo
from ibtpo import _lib

LIB = _lib.LIB


@pytest.mark.parametrize("text", [b"", b"a", b"\x00", b"a\x00b\x00", bytes(range(256)), b"3+4\n", b"\xff\xfe\x00\n"])
@pytest.mark.parametrize("add_bos", [False, True])
def test_round_trip_of_any_bytes(text, add_bos):
    tokens = ibtpo.tokenize(text, add_bos=add_bos)
    expected = ([ibtpo.TOKEN_BOS] if add_bos else []) + list(text)  # token t < 256 is the byte t
    assert tokens == expected
    assert ibtpo.detokenize(tokens) == text


def test_str_is_utf8():
    assert ibtpo.tokenize("é\x00€") == list("é\x00€".encode("utf-8"))
    assert ibtpo.detokenize(ibtpo.tokenize("é\x00€", True)).decode("utf-8") == "é\x00€"
    assert ibtpo.tokenize(bytearray(b"ab")) == [97, 98] and ibtpo.tokenize(memoryview(b"ab")) == [97, 98]


def test_detokenize_drops_bos_and_pad_and_stops_at_eos():
    B, E, P = ibtpo.TOKEN_BOS, ibtpo.TOKEN_EOS, ibtpo.TOKEN_PAD
    assert (B, E, P) == (256, 257, 258)
    assert ibtpo.detokenize([B, 104, P, 105, P, 0, E, 120, 121]) == b"hi\x00"
    assert ibtpo.detokenize([E, 97]) == b""
    assert ibtpo.detokenize([P, B, P]) == b""


@pytest.mark.parametrize("bad", [[259], [-1], [97, 1000], [2**31 - 1]])
def test_detokenize_rejects_tokens_outside_the_vocabulary(bad):
    with pytest.raises(ibtpo.InvalidArgumentError) as e:
        ibtpo.detokenize(bad)
    assert e.value.code == ibtpo.ERR_INVALID_ARGUMENT and e.value.message


def test_python_side_errors():
    for bad in ([2**31], [1.5], ["a"], "abc", None):
        with pytest.raises(ibtpo.InvalidArgumentError):
            ibtpo.detokenize(bad)
    for bad in (None, 5, [97]):
        with pytest.raises(ibtpo.InvalidArgumentError):
            ibtpo.tokenize(bad)
    with pytest.raises(ibtpo.InvalidArgumentError, match="add_bos"):
        ibtpo.tokenize(b"a", add_bos=2)


def test_numpy_input():
    np = pytest.importorskip("numpy")
    t = np.array(ibtpo.tokenize(b"a\x00b", add_bos=True), dtype=np.int64)
    assert ibtpo.detokenize(t) == b"a\x00b"
    assert ibtpo.detokenize(t[::-1].copy()[::-1]) == b"a\x00b"
    with pytest.raises(ibtpo.InvalidArgumentError):
        ibtpo.detokenize(np.array([1.0, 2.0]))


# ---- the C contract behind the two-call size query ----------------------------------

def test_c_tokenize_reports_the_size_it_needs_and_writes_nothing_when_too_small():
    text = b"ab\x00cd"
    n = ctypes.c_int64(-7)
    # capacity 0 with out = NULL: a pure size query
    assert LIB.ibtpo_tokenize(text, len(text), 1, None, 0, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert n.value == len(text) + 1
    buf = (ctypes.c_int32 * 8)(*([-5] * 8))
    n.value = -7
    assert LIB.ibtpo_tokenize(text, len(text), 1, buf, 5, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert n.value == 6 and list(buf) == [-5] * 8  # nothing written
    assert LIB.ibtpo_tokenize(text, len(text), 1, buf, 6, ctypes.byref(n)) == ibtpo.OK
    assert n.value == 6 and list(buf[:6]) == [256, 97, 98, 0, 99, 100] and list(buf[6:]) == [-5, -5]
    # empty text without BOS needs 0 tokens: capacity 0 and out = NULL is a success
    assert LIB.ibtpo_tokenize(b"", 0, 0, None, 0, ctypes.byref(n)) == ibtpo.OK and n.value == 0


def test_c_tokenize_bad_arguments():
    n = ctypes.c_int64(0)
    buf = (ctypes.c_int32 * 4)()
    assert LIB.ibtpo_tokenize(b"ab", 2, 2, buf, 4, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT  # add_bos 2
    assert LIB.ibtpo_tokenize(b"ab", -1, 0, buf, 4, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert LIB.ibtpo_tokenize(None, 2, 0, buf, 4, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert LIB.ibtpo_tokenize(b"ab", 2, 0, buf, 4, None) == ibtpo.ERR_INVALID_ARGUMENT
    assert LIB.ibtpo_tokenize(b"ab", 2, 0, None, 4, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert ibtpo._errors.last_error(None)  # a handle-less failure sets this thread's message


def test_c_detokenize_capacity_counts_the_nul_and_writes_nothing_when_too_small():
    toks = (ctypes.c_int32 * 4)(104, 0, 105, ibtpo.TOKEN_EOS)
    out = ctypes.create_string_buffer(b"#" * 8, 8)
    n = ctypes.c_int64(-1)
    assert LIB.ibtpo_detokenize(toks, 4, out, 3, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT  # 3 bytes + NUL
    assert out.raw == b"#" * 8
    assert LIB.ibtpo_detokenize(toks, 4, out, 4, ctypes.byref(n)) == ibtpo.OK
    assert n.value == 3 and out.raw[:4] == b"h\x00i\x00" and out.raw[4:] == b"####"
    bad = (ctypes.c_int32 * 2)(97, 300)
    assert LIB.ibtpo_detokenize(bad, 2, out, 8, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert LIB.ibtpo_detokenize(toks, -1, out, 8, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    assert LIB.ibtpo_detokenize(toks, 4, None, 8, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
