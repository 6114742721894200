"""Low-level ctypes layer: the one prototype table, the struct mirrors, library loading.

Everything that knows about include/ibtpo.h lives here. The rest of the package only
calls ``LIB.<name>(...)`` and converts to and from Python objects.

When the header grows:
  * a new function: add one line to ``_PROTOTYPES`` (``make abi-check`` parses this table
    without importing it and compares names and arities with the header and the exports);
  * a new struct field: append it to the struct's ``_fields_`` in the same position as in
    the header (fields are only ever appended), and to the matching dataclass in config.py.

Functions in the table that an older library (same major, lower minor) does not export
are bound to a stub that raises ``IBTPOError`` with ``IBTPO_ERR_NOT_SUPPORTED``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, Structure, c_char_p, c_double, c_float, c_int32, c_int64, c_uint32, c_uint64, c_void_p

# The header this binding mirrors (include/ibtpo.h). Same major = ABI-compatible (libuv's rule).
EXPECTED_MAJOR = 0
EXPECTED_MINOR = 1

ibtpo_status = c_int32
ibtpo_trainer_p = c_void_p  # opaque `ibtpo_trainer *`


# ---- Struct mirrors (field for field, same order and types as the header) -----------

class ibtpo_model_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("vocab", c_int32),
        ("d_model", c_int32),
        ("n_layers", c_int32),
        ("n_heads", c_int32),
        ("n_kv_heads", c_int32),
        ("d_ff", c_int32),
        ("max_seq", c_int32),
        ("rope_theta", c_float),
        ("norm_eps", c_float),
        ("tie_embeddings", c_int32),
    ]


class ibtpo_trainer_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("model", ibtpo_model_config),
        ("batch", c_int32),
        ("seq", c_int32),
        ("threads", c_int32),
        ("seed", c_uint64),
        ("lr", c_float),
        ("min_lr", c_float),
        ("warmup_steps", c_int32),
        ("total_steps", c_int32),
        ("beta1", c_float),
        ("beta2", c_float),
        ("adam_eps", c_float),
        ("weight_decay", c_float),
        ("grad_clip", c_float),
    ]


class ibtpo_memory_plan(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("total_bytes", c_uint64),
        ("parameter_bytes", c_uint64),
        ("gradient_bytes", c_uint64),
        ("optimizer_bytes", c_uint64),
        ("activation_bytes", c_uint64),
        ("scratch_bytes", c_uint64),
        ("parameter_count", c_uint64),
    ]


class ibtpo_step_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("step", c_int64),
        ("loss", c_float),
        ("grad_norm", c_float),
        ("lr", c_float),
        ("tokens", c_int64),
        ("seconds", c_double),
    ]


#: Every struct of the header, by C name (the tests compare their sizes and offsets
#: with a C program compiled against include/ibtpo.h).
# (Keyed by __name__, not string literals: tools/abi_check.py reads quoted "ibtpo_*" keys
# in this file as prototype-table entries.)
STRUCTS = {cls.__name__: cls for cls in (ibtpo_model_config, ibtpo_trainer_config, ibtpo_memory_plan,
                                          ibtpo_step_stats)}


def new_struct(cls):
    """A zeroed instance of a struct mirror with struct_size set (nested ones too)."""
    s = cls()
    _set_sizes(s)
    return s


def _set_sizes(s):
    for name, typ in s._fields_:
        if name == "struct_size":
            s.struct_size = ctypes.sizeof(type(s))
        elif isinstance(typ, type) and issubclass(typ, Structure):
            _set_sizes(getattr(s, name))


# ---- The prototype table: name -> (restype, [argtypes]) ------------------------------
# One entry per function of include/ibtpo.h, in header order. `restype None` = void.

_PROTOTYPES = {
    "ibtpo_version": (c_uint32, []),
    "ibtpo_status_string": (c_char_p, [ibtpo_status]),
    "ibtpo_last_error": (c_char_p, [ibtpo_trainer_p]),
    "ibtpo_model_config_default": (ibtpo_status, [POINTER(ibtpo_model_config)]),
    "ibtpo_trainer_config_default": (ibtpo_status, [POINTER(ibtpo_trainer_config)]),
    "ibtpo_memory_plan_for": (ibtpo_status, [POINTER(ibtpo_trainer_config), POINTER(ibtpo_memory_plan)]),
    "ibtpo_trainer_create": (ibtpo_status, [POINTER(ibtpo_trainer_config), POINTER(ibtpo_trainer_p)]),
    "ibtpo_trainer_free": (None, [ibtpo_trainer_p]),
    "ibtpo_trainer_get_config": (ibtpo_status, [ibtpo_trainer_p, POINTER(ibtpo_trainer_config)]),
    "ibtpo_trainer_step_supervised": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int32), POINTER(c_int32),
                                                     POINTER(c_float), c_int64, c_int64,
                                                     POINTER(ibtpo_step_stats)]),
    "ibtpo_trainer_get_step": (ibtpo_status, [ibtpo_trainer_p, POINTER(c_int64)]),
    "ibtpo_trainer_save": (ibtpo_status, [ibtpo_trainer_p, c_char_p]),
    "ibtpo_trainer_load": (ibtpo_status, [ibtpo_trainer_p, c_char_p]),
}


# ---- Finding and loading the library -------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))


def candidate_paths() -> list[tuple[str, str]]:
    """(how it was found, path) in search order; the first existing one is loaded."""
    env = os.environ.get("IBTPO_LIBRARY")
    if env:
        return [("$IBTPO_LIBRARY", env)]  # explicit: never fall back silently
    out = [("package directory", os.path.join(_HERE, "libibtpo.so"))]
    # A source checkout: <repo>/bindings/python/ibtpo/_lib.py -> <repo>/dist/lib/libibtpo.so
    # (only when the package really sits in a checkout, not in site-packages)
    repo = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    if os.path.exists(os.path.join(repo, "include", "ibtpo.h")):
        out.append(("source checkout (make lib)", os.path.join(repo, "dist", "lib", "libibtpo.so")))
    found = ctypes.util.find_library("ibtpo")
    if found:
        out.append(("ctypes.util.find_library('ibtpo')", found))
    return out


class LibraryNotFoundError(ImportError):
    pass


def _load_cdll() -> tuple[ctypes.CDLL, str]:
    # The Swift runtime installs its backtracer's signal handlers in the host process
    # unless this is set before libswiftCore (inside libibtpo.so) is loaded.
    os.environ.setdefault("SWIFT_BACKTRACE", "enable=no")
    tried = []
    for how, path in candidate_paths():
        # find_library returns a bare soname ("libibtpo.so.0") that dlopen resolves itself.
        if os.sep in path and not os.path.exists(path):
            tried.append(f"  {how}: {path} (does not exist)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"  {how}: {path} ({e})")
            if how == "$IBTPO_LIBRARY":
                break
    if not os.environ.get("IBTPO_LIBRARY") and not ctypes.util.find_library("ibtpo"):
        tried.append("  ctypes.util.find_library('ibtpo'): not found")
    raise LibraryNotFoundError(
        "ibtpo: cannot load libibtpo.so. Tried:\n" + "\n".join(tried) +
        "\nBuild it with `make lib` (dist/lib/libibtpo.so) or `make install`, or set IBTPO_LIBRARY "
        "to the path of libibtpo.so."
    )


class _Missing:
    """Stands in for a table function that this (older) library does not export."""

    def __init__(self, name: str):
        self.__name__ = name

    def __call__(self, *args):
        from ._errors import IBTPOError, ERR_NOT_SUPPORTED
        raise IBTPOError(ERR_NOT_SUPPORTED, f"{self.__name__} is not exported by {PATH} "
                         f"(library version {version_string(LIB.ibtpo_version())})")


def version_string(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


class _Lib:
    """The loaded library with every table function bound (argtypes and restype set)."""

    def __init__(self, cdll: ctypes.CDLL, path: str):
        self.cdll, self.path, self.missing = cdll, path, []
        for name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _Missing(name))
                continue
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)


def _load() -> _Lib:
    cdll, path = _load_cdll()
    lib = _Lib(cdll, path)
    if "ibtpo_version" in lib.missing:
        raise ImportError(f"ibtpo: {path} does not export ibtpo_version; is it libibtpo?")
    v = lib.ibtpo_version()
    if (v >> 16) != EXPECTED_MAJOR:
        raise ImportError(
            f"ibtpo: {path} is libibtpo {version_string(v)}, but this binding was written for major version "
            f"{EXPECTED_MAJOR} (header {EXPECTED_MAJOR}.{EXPECTED_MINOR}); the ABI differs between major versions. "
            "Install a matching library or point IBTPO_LIBRARY at one."
        )
    _check_reported_sizes(lib, path)
    return lib


def _check_reported_sizes(lib: _Lib, path: str) -> None:
    """The *_default() fillers write the library's sizeof into struct_size. Both config
    structs must match the mirrors exactly: ibtpo_model_config is nested by value inside
    ibtpo_trainer_config, so any growth of it moves every later trainer field. The fillers
    write into padded buffers here, so a newer library with larger structs cannot overrun."""
    reported = {}
    for cls, filler in [(ibtpo_model_config, lib.ibtpo_model_config_default),
                        (ibtpo_trainer_config, lib.ibtpo_trainer_config_default)]:
        buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + 4096)
        s = cls.from_buffer(buf)
        if filler(ctypes.byref(s)) != 0:
            raise ImportError(f"ibtpo: {path}: {filler.__name__}() failed: {lib.ibtpo_last_error(None)!r}")
        reported[cls.__name__] = s.struct_size
        if cls is ibtpo_trainer_config:
            reported[ibtpo_model_config.__name__ + " (nested)"] = s.model.struct_size
    # (no quoted "ibtpo_*" keys outside _PROTOTYPES: abi_check.py would read them as entries)
    ours = {cls.__name__: ctypes.sizeof(cls) for cls in (ibtpo_model_config, ibtpo_trainer_config)}
    ours[ibtpo_model_config.__name__ + " (nested)"] = ctypes.sizeof(ibtpo_model_config)
    for name, size in ours.items():
        if reported[name] != size:
            raise ImportError(f"ibtpo: {path}: sizeof({name}) is {reported[name]} in the library but {size} in "
                              f"the binding (library {version_string(lib.ibtpo_version())}, binding header "
                              f"{EXPECTED_MAJOR}.{EXPECTED_MINOR}); update the binding or the library")


LIB = _load()
PATH = LIB.path
