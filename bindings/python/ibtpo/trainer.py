"""The Trainer handle, memory_plan() and tree_advantages()."""
from __future__ import annotations

import array
import ctypes
import numbers
import os
import signal
import threading
from typing import Any, Callable, NamedTuple, Optional, Union

from . import _arrays, _lib
from ._errors import (ERR_BAD_DATA, ERR_BUSY, ERR_INVALID_ARGUMENT, ERR_NOT_SUPPORTED, OK, IBTPOError, _check, error,
                      last_error, utf8)
from ._lib import LIB
from .config import (EvalConfig, EvalResult, RLConfig, RLMetrics, SamplingConfig, TrainerConfig, coerce,
                     struct_to_dict)
from .task import Task
from .tokenizer import _as_bytes, detokenize, tokenize

try:  # numpy is optional: inputs may be lists or numpy arrays
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    _np = None


def memory_plan(config: Optional[TrainerConfig] = None) -> dict:
    """Bytes the trainer's single arena needs for `config`, by group (computed without
    allocating): total_bytes, parameter_bytes, gradient_bytes, optimizer_bytes,
    activation_bytes, scratch_bytes, parameter_count and kv_cache_bytes (the sampler's KV
    cache and decode buffers, part of scratch_bytes)."""
    c = (config or TrainerConfig()).to_c()
    plan = _lib.new_struct(_lib.ibtpo_memory_plan)
    _check(LIB.ibtpo_memory_plan_for(ctypes.byref(c), ctypes.byref(plan)))
    return struct_to_dict(plan)


def _as_c_array(x: Any, ctype, typecode: str, what: str, shape: tuple[int, int]):
    """(ctypes pointer, keep-alive object) of a batch × seq array, row-major. Checks the
    shape and that values fit the C type; the library checks the ranges of the values."""
    batch, seq = shape
    if _np is not None and isinstance(x, _np.ndarray):
        if x.shape != shape:
            raise error(ERR_INVALID_ARGUMENT, f"{what} has shape {x.shape}, the trainer expects "
                        f"(batch, seq) = {shape}")
        want = _np.int32 if ctype is ctypes.c_int32 else _np.float32
        if x.dtype != want:
            if want is _np.int32:
                if x.dtype.kind not in "iub":
                    raise error(ERR_INVALID_ARGUMENT, f"{what} must hold integers, got dtype {x.dtype}")
                if x.size and (x.min() < -(2**31) or x.max() > 2**31 - 1):
                    raise error(ERR_BAD_DATA, f"{what} has values outside int32")
            elif x.dtype.kind not in "iubf":
                raise error(ERR_INVALID_ARGUMENT, f"{what} must hold numbers, got dtype {x.dtype}")
        a = _np.ascontiguousarray(x, dtype=want)
        return a.ctypes.data_as(ctypes.POINTER(ctype)), a
    try:
        rows = None if isinstance(x, (str, bytes)) else list(x)
    except TypeError:
        rows = None
    if rows is None or len(rows) != batch:
        n = "?" if rows is None else len(rows)
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be {batch} rows (batch) of {seq} values (seq); "
                    f"got {n} rows")
    flat = array.array(typecode)
    assert flat.itemsize == ctypes.sizeof(ctype)
    for i, row in enumerate(rows):
        try:
            row = list(row)
        except TypeError:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}] is not a sequence of {seq} values") from None
        if len(row) != seq:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}] has {len(row)} values, the trainer expects seq = {seq}")
        try:
            flat.extend(row)
        except OverflowError:
            raise error(ERR_BAD_DATA, f"{what}[{i}] has a value outside int32") from None
        except TypeError as e:
            raise error(ERR_INVALID_ARGUMENT, f"{what}[{i}]: {e}") from None
    addr, _ = flat.buffer_info()
    return ctypes.cast(addr, ctypes.POINTER(ctype)), flat


class Completion(NamedTuple):
    """One sampled completion: its tokens (EOS included when sampled) and, per token, the
    log-probability under the policy at temperature 1 (unfiltered by top-k / top-p)."""

    tokens: Any
    logps: Any

    @property
    def text(self) -> bytes:
        """The completion's bytes (decoding stops at EOS)."""
        return detokenize(self.tokens)


class _CallbackState:
    """The Python callbacks of one trainer, their ctypes wrappers (kept alive here while the
    library holds them) and the exceptions callbacks raised during the running calls, by
    thread (callbacks run on the thread that called the library; a call refused with
    IBTPO_ERR_BUSY on another thread must not see or clear them). The wrappers reference
    this object, not the Trainer, so they create no reference cycle."""

    def __init__(self):
        self.errors: dict = {}  # thread id -> the first exception a callback raised in its call
        self.reward = self.log = self.progress = None  # (python callable, CFUNCTYPE object)
        self.signals = None  # the CFUNCTYPE object installed when no progress fn is set

    def record(self, e: BaseException) -> None:
        self.errors.setdefault(threading.get_ident(), e)

    @property
    def error(self) -> Optional[BaseException]:  # this thread's (tests and compatibility)
        return self.errors.get(threading.get_ident())


def _reward_wrapper(fn: Callable, state: _CallbackState, as_bytes: bool):
    def reward(_user, prompt, prompt_len, completion, completion_len, answer, out_reward):
        try:
            p = ctypes.string_at(prompt, prompt_len) if prompt_len > 0 else b""
            c = ctypes.string_at(completion, completion_len) if completion_len > 0 else b""
            a = answer or b""
            if not as_bytes:
                p, c, a = (x.decode("utf-8", "replace") for x in (p, c, a))
            r = fn(p, c, a)
            if not isinstance(r, numbers.Real):  # bool is a Real: True -> 1.0
                raise TypeError(f"the reward function returned {r!r} ({type(r).__name__}), not a number")
            out_reward[0] = float(r)  # out of [0, 1] or NaN: the library rejects it
            return 0
        except BaseException as e:  # KeyboardInterrupt too: stop the step, re-raise after it
            state.record(e)
            return 1
    return _lib.REWARD_FN(reward)


def _log_wrapper(fn: Callable):
    # A void callback cannot stop the call: an exception raised here is reported by ctypes
    # through sys.unraisablehook ("Exception ignored on calling ctypes callback function").
    def log(_user, level, message):
        fn(int(level), (message or b"").decode("utf-8", "replace"))
    return _lib.LOG_FN(log)


# Ctrl-C during a library call. While a call runs on the main thread with Python's default
# SIGINT handler, the binding swaps in a handler that only sets this flag: Python may run
# handlers on entry to a callback, before any try block of ours, where a raised
# KeyboardInterrupt would be lost ("Exception ignored on calling ctypes callback").
_sigint = {"hit": False}


def _sigint_flag(signum, frame) -> None:
    _sigint["hit"] = True


def _sigint_enter() -> bool:
    """Installs the flag handler for a call on the main thread; False if it did not (another
    thread, a custom SIGINT handler, or a call nested in a callback: the outer one has)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, _sigint_flag)
    except (ValueError, OSError, TypeError):  # pragma: no cover - embedded interpreters
        return False
    _sigint["hit"] = False
    return True


def _sigint_exit(entered: bool) -> bool:
    """Restores the default handler; True if a SIGINT arrived that no callback consumed."""
    if not entered:
        return False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    hit, _sigint["hit"] = _sigint["hit"], False
    return hit


def _check_signals() -> None:
    """Raises KeyboardInterrupt if Ctrl-C was pressed during the call (the flag), after
    running other pending signal handlers (PyErr_CheckSignals; on the main thread only)."""
    if threading.current_thread() is threading.main_thread():
        ctypes.pythonapi.PyErr_CheckSignals()  # a PyDLL function: a handler's exception is raised
    if _sigint["hit"]:
        _sigint["hit"] = False
        raise KeyboardInterrupt


def _progress_wrapper(fn: Optional[Callable], state: _CallbackState):
    """The progress callback the binding always installs: it first runs pending signal
    handlers (so Ctrl-C stops a long call at its next abort point, see set_progress_fn),
    then the user's fn, if any."""
    def progress(_user, phase, done, total):
        try:
            _check_signals()
            if fn is None:
                return 0
            return 1 if fn((phase or b"").decode("utf-8", "replace"), int(done), int(total)) is False else 0
        except BaseException as e:
            state.record(e)
            return 1
    return _lib.PROGRESS_FN(progress)


_NO_TASK = object()  # _call's "this function takes no task" (None is a wrong task argument)


class Trainer:
    """One libibtpo trainer: model, AdamW state, step counter, RNG and threads in one arena.

    Free it with ``close()`` or a ``with`` block (``__del__`` frees it too). All three are
    idempotent: the handle is freed exactly once; closing while a call is running (from a
    callback or another thread) frees it when the last running call returns. Any call
    after close raises InvalidArgumentError (a ValueError).

    A Trainer may be used from any thread, but it runs one call at a time: a call made
    while another call on the same trainer is running raises BusyError at once (the
    library's per-trainer busy flag; the binding holds no lock across a library call, so
    callbacks that use other trainers cannot deadlock). A callback calling its own trainer
    gets BusyError too (the callback's call fails; unless the callback catches it, the
    outer call then fails with that BusyError, the trainer unchanged). The library
    releases the GIL while it works.

    When a Python reward or progress callback raises, the library call fails (the trainer is
    unchanged) and the binding raises the callback's exception, with the library's
    IBTPOError (IBTPO_ERR_CALLBACK_FAILED or IBTPO_ERR_ABORTED) as its ``__cause__``.
    """

    def __init__(self, config: Optional[TrainerConfig] = None):
        c = coerce(TrainerConfig, config).to_c()
        self._setup(lambda out: LIB.ibtpo_trainer_create(ctypes.byref(c), ctypes.byref(out)))

    @classmethod
    def from_pretrained(cls, path, *, chat: bool = False, system: Optional[str] = None, context: int = 512,
                        **config) -> "Trainer":
        """A trainer whose model is a pretrained one: a GGUF file (llama, qwen2), a Hugging
        Face directory (config.json, safetensors, tokenizer.json) or a checkpoint of a
        pretrained model. The model's sizes come from the file; `context`
        caps its context (the RoPE tables and KV cache are sized by it) and `config` holds
        the other TrainerConfig fields (batch, seq, lr, rollout_slots, ...). chat=True renders
        task prompts through the model's chat template, with `system` as system message."""
        cfg = coerce(TrainerConfig, config or None)
        cfg.model.max_seq = int(context)
        if "seq" not in config:
            cfg.seq = min(cfg.seq, int(context))
        c = cfg.to_c()
        if chat not in (0, 1):
            raise error(ERR_INVALID_ARGUMENT, f"chat must be a bool, got {chat!r}")
        sys_b = None if system is None else utf8(system, "system")
        path_b = os.fsencode(path)
        self = cls.__new__(cls)
        self._setup(lambda out: LIB.ibtpo_trainer_create_from_model(path_b, ctypes.byref(c), int(chat), sys_b,
                                                                   ctypes.byref(out)))
        return self

    def _setup(self, create) -> None:
        self._handle: Optional[int] = None
        self._lock = threading.Lock()  # guards _handle, _users, _close_pending; never held across a call
        self._users = 0                 # library calls running on this handle (the library allows one)
        self._close_pending = False
        self._callbacks = _CallbackState()
        out = _lib.ibtpo_trainer_p()
        _check(create(out))
        self._handle = out.value
        self._callbacks.signals = _progress_wrapper(None, self._callbacks)
        self._call(LIB.ibtpo_trainer_set_progress_fn, self._callbacks.signals, None)
        cfg = self.config  # the shapes step_supervised checks on the Python side
        self._shape = (cfg.batch, cfg.seq)
        self._slots = cfg.rollout_slots

    # ---- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Frees the trainer (idempotent). If a call on it is running (a callback of that
        call, or another thread, is closing it), the handle is freed when that call returns."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before the handle existed
            return
        with lock:
            if self._handle is None or self._close_pending:
                return
            if self._users:
                self._close_pending = True
                return
            handle, self._handle = self._handle, None
        self._free(handle)

    def _free(self, handle: int) -> None:
        LIB.ibtpo_trainer_free(handle)
        self._callbacks.reward = self._callbacks.log = self._callbacks.progress = self._callbacks.signals = None

    @property
    def closed(self) -> bool:
        return self._handle is None or self._close_pending

    def __enter__(self) -> "Trainer":
        self._live()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        if self.closed:
            return "<ibtpo.Trainer closed>"
        return f"<ibtpo.Trainer step={self.step} batch={self._shape[0]} seq={self._shape[1]}>"

    def _live(self) -> int:
        h = self._handle
        if h is None or self._close_pending:
            raise error(ERR_INVALID_ARGUMENT, "the trainer is closed")
        return h

    def _enter(self) -> int:
        with self._lock:
            h = self._live()
            self._users += 1
            return h

    def _exit(self) -> None:
        with self._lock:
            self._users -= 1
            free = self._users == 0 and self._close_pending
            if free:
                handle, self._handle, self._close_pending = self._handle, None, False
        if free:
            self._free(handle)

    def _call(self, fn, *args, task: Any = _NO_TASK) -> None:
        """fn(handle, [task handle,] *args), then the status check with this handle's error
        (the thread's for IBTPO_ERR_BUSY); an exception raised by a Python callback during
        the call is re-raised (chained to the library's error). No lock is held during fn:
        the library refuses a second concurrent call with IBTPO_ERR_BUSY."""
        h = self._enter()
        me = threading.get_ident()
        outer = self._callbacks.errors.pop(me, None)  # set only when this is a callback's call
        sigint = False
        try:
            if task is _NO_TASK:
                sigint = _sigint_enter()
                try:
                    status = fn(h, *args)
                finally:
                    late_interrupt = _sigint_exit(sigint)
            else:
                if not isinstance(task, Task):
                    raise error(ERR_INVALID_ARGUMENT, f"task must be an ibtpo.Task, got {task!r}")
                with task._borrow() as th:
                    sigint = _sigint_enter()
                    try:
                        status = fn(h, th, *args)
                    finally:
                        late_interrupt = _sigint_exit(sigint)
            exc = self._callbacks.errors.pop(me, None)
            if exc is None and late_interrupt:  # Ctrl-C after the last abort point: the call finished
                exc = KeyboardInterrupt()
            if status != OK:
                err = error(status, last_error(None if status == ERR_BUSY else h))
                if exc is not None:
                    raise exc from err
                raise err
            if exc is not None:  # a callback failed but the library went on: still report it
                raise exc
        finally:
            if outer is not None:
                self._callbacks.errors[me] = outer
            self._exit()

    # ---- queries ----------------------------------------------------------------------

    @property
    def config(self) -> TrainerConfig:
        """The configuration the trainer was created with (ibtpo_trainer_get_config), except
        ``threads``, which is the current count (the ``threads`` setter changes it)."""
        out = _lib.new_struct(_lib.ibtpo_trainer_config)
        self._call(LIB.ibtpo_trainer_get_config, ctypes.byref(out))
        return TrainerConfig.from_c(out)

    @property
    def step(self) -> int:
        """Optimiser steps taken so far (restored by load)."""
        out = ctypes.c_int64(-1)
        self._call(LIB.ibtpo_trainer_get_step, ctypes.byref(out))
        return out.value

    @property
    def threads(self) -> int:
        """Worker threads (1..64) of every later call; results do not depend on it."""
        out = ctypes.c_int32(-1)
        self._call(LIB.ibtpo_trainer_get_threads, ctypes.byref(out))
        return out.value

    @threads.setter
    def threads(self, n: int) -> None:
        if isinstance(n, float) or not hasattr(n, "__index__") or not -(2**31) <= int(n) < 2**31:
            raise error(ERR_INVALID_ARGUMENT, f"threads must be an integer in 1..64, got {n!r}")
        self._call(LIB.ibtpo_trainer_set_threads, int(n))

    # ---- training ---------------------------------------------------------------------

    def step_supervised(self, tokens, targets, weights=None) -> dict:
        """One cross-entropy step on a batch × seq batch (lists of lists or numpy arrays).

        tokens in [0, vocab); targets in [0, vocab) or -1 (ignored); weights >= 0 per token
        or None (1 on every target). Returns the step stats: step, loss, grad_norm, lr,
        tokens, seconds. A failed step leaves the trainer unchanged.
        """
        shape = self._shape
        tok, keep1 = _as_c_array(tokens, ctypes.c_int32, "i", "tokens", shape)
        tgt, keep2 = _as_c_array(targets, ctypes.c_int32, "i", "targets", shape)
        if weights is None:
            w, keep3 = None, None
        else:
            w, keep3 = _as_c_array(weights, ctypes.c_float, "f", "weights", shape)
        stats = _lib.new_struct(_lib.ibtpo_step_stats)
        self._call(LIB.ibtpo_trainer_step_supervised, tok, tgt, w, shape[0], shape[1], ctypes.byref(stats))
        del keep1, keep2, keep3
        return struct_to_dict(stats)

    def step_sft(self, task: Task) -> dict:
        """One supervised step on `batch` train problems of `task` (prompt, reference
        solution and EOS; loss on the completion only), in a seeded shuffled order the
        trainer remembers. Returns the step stats, as step_supervised."""
        stats = _lib.new_struct(_lib.ibtpo_step_stats)
        self._call(LIB.ibtpo_trainer_step_sft, ctypes.byref(stats), task=task)
        return struct_to_dict(stats)

    # ---- callbacks --------------------------------------------------------------------

    def set_reward_fn(self, fn: Optional[Callable[[Any, Any, Any], float]], *, as_bytes: bool = False) -> None:
        """Judge completions in RL steps and evaluation with ``fn(prompt, completion, answer)
        -> float in [0, 1]`` instead of the task's verifier (None removes it).

        The arguments are str (UTF-8, undecodable bytes replaced by U+FFFD), or bytes with
        ``as_bytes=True`` (a completion may contain any byte, NUL included); answer is ""
        for tasks without answers. If fn raises or returns a non-number, the step fails,
        the trainer is unchanged and that exception is raised (a TypeError for a
        non-number). A number outside [0, 1] or NaN makes the library fail the step with
        IBTPO_ERR_CALLBACK_FAILED (CallbackFailedError).
        """
        if fn is not None and not callable(fn):
            raise error(ERR_INVALID_ARGUMENT, f"the reward function must be callable or None, got {fn!r}")
        # REWARD_FN() is a NULL function pointer (ctypes refuses None here)
        cf = _lib.REWARD_FN() if fn is None else _reward_wrapper(fn, self._callbacks, as_bytes)
        self._call(LIB.ibtpo_trainer_set_reward_fn, cf, None)
        self._callbacks.reward = None if fn is None else (fn, cf)

    def set_log_fn(self, fn: Optional[Callable[[int, str], Any]]) -> None:
        """Receive the library's log lines as ``fn(level, message)`` (level LOG_INFO or
        LOG_WARN; None removes it). Without one the library prints nothing. An exception
        raised by fn cannot stop the call: it is reported through sys.unraisablehook."""
        if fn is not None and not callable(fn):
            raise error(ERR_INVALID_ARGUMENT, f"the log function must be callable or None, got {fn!r}")
        # LOG_FN() is a NULL function pointer (ctypes refuses None here)
        cf = _lib.LOG_FN() if fn is None else _log_wrapper(fn)
        self._call(LIB.ibtpo_trainer_set_log_fn, cf, None)
        self._callbacks.log = None if fn is None else (fn, cf)

    def set_progress_fn(self, fn: Optional[Callable[[str, int, int], Any]]) -> None:
        """Follow long calls with ``fn(phase, done, total)``; phase is "rollout", "update",
        "evaluate", "generate" or "score". Return False to abort the call (AbortedError,
        trainer unchanged); any other return value (None included) continues. The stop is
        honoured at every "rollout" report and at "evaluate", "generate" and "score"
        reports with done < total; it is ignored in "update" (an RL step that has started
        updating completes all its updates) and at a call's final report (done == total:
        the call returns its results). An exception raised by fn aborts the call at the same
        points and is re-raised (at the others it is raised after the call, whose effects
        stay). None removes the callback.

        Ctrl-C: the binding's callback (installed with or without fn) runs pending signal
        handlers at every report on the main thread, so a KeyboardInterrupt stops a long
        call at its next abort point (the trainer unchanged) and is raised with
        AbortedError as its ``__cause__``; in the "update" phase the RL step finishes first
        and the KeyboardInterrupt is raised after it."""
        if fn is not None and not callable(fn):
            raise error(ERR_INVALID_ARGUMENT, f"the progress function must be callable or None, got {fn!r}")
        # PROGRESS_FN() is a NULL function pointer (ctypes refuses None here)
        # Without fn the binding's own callback stays installed (it only checks for Ctrl-C).
        cf = self._callbacks.signals if fn is None else _progress_wrapper(fn, self._callbacks)
        self._call(LIB.ibtpo_trainer_set_progress_fn, cf, None)
        self._callbacks.progress = None if fn is None else (fn, cf)

    # ---- sampling and scoring -----------------------------------------------------------

    def generate(self, prompt, n: int = 1, sampling: Union[SamplingConfig, dict, None] = None,
                 seed: int = 0) -> list:
        """Samples `n` completions of one prompt with the KV-cached sampler.

        prompt: tokens (a list or numpy array, usually [TOKEN_BOS] + bytes), or str/bytes,
        which are tokenized with a leading BOS. sampling: a SamplingConfig, a dict of its
        fields or None (the defaults). Returns n Completion(tokens, logps) tuples: the tokens
        up to and including EOS when sampled, and each token's log-probability under the
        policy at temperature 1. Numpy arrays (int32, float32) when the prompt is one.
        Completion i depends only on (seed, i), not on n. Changes nothing in the trainer.
        """
        if isinstance(prompt, (str, bytes, bytearray, memoryview)):
            prompt = tokenize(_as_bytes(prompt, "prompt"), add_bos=True)
        use_np = _arrays.is_ndarray(prompt)
        p = _arrays.vector(prompt, ctypes.c_int32, "prompt")
        sc = coerce(SamplingConfig, sampling).to_c()
        n = _int_arg(n, "n")
        seed = _u64_arg(seed, "seed")
        if n > max(self._slots, 1):
            raise error(ERR_INVALID_ARGUMENT, f"n = {n} exceeds the trainer's rollout_slots ({self._slots})")
        m = max(sc.max_new_tokens, 0)
        rows = max(n, 0)
        toks = (ctypes.c_int32 * (rows * m))()
        lens = (ctypes.c_int64 * rows)()
        logps = (ctypes.c_float * (rows * m))()
        self._call(LIB.ibtpo_trainer_generate, _arrays.pointer(p, ctypes.c_int32), len(p), n, ctypes.byref(sc),
                   seed, toks, lens, logps)
        out = []
        for i in range(rows):
            L = lens[i]
            if not 0 <= L <= m:  # pragma: no cover - a library bug; never read past the row
                raise error(ERR_BAD_DATA, f"the library reported completion length {L} (max_new_tokens {m})")
            t, lp = toks[i * m: i * m + L], logps[i * m: i * m + L]
            if use_np:
                t, lp = _arrays.np.array(t, dtype=_arrays.np.int32), _arrays.np.array(lp, dtype=_arrays.np.float32)
            out.append(Completion(t, lp))
        return out

    # ---- the model's tokenizer and chat template ----------------------------------------

    def _text_out(self, fn, *args, capacity: int = 256) -> bytes:
        """Calls a C function with the (out, capacity, out_len) contract, growing the buffer."""
        for _attempt in range(3):
            buf = ctypes.create_string_buffer(capacity)
            n = ctypes.c_int64(-1)
            try:
                self._call(fn, *args, buf, capacity, ctypes.byref(n))
                return buf.raw[: n.value]
            except IBTPOError as e:
                if e.code == ERR_INVALID_ARGUMENT and n.value >= capacity:
                    capacity = n.value + 1
                    continue
                raise
        raise error(ERR_INVALID_ARGUMENT, "the library kept asking for a larger buffer")  # pragma: no cover

    def tokenize(self, text: str) -> list:
        """Token ids of `text` with the model's own tokenizer, exactly as Hugging Face's
        tokenizer(text, add_special_tokens=False).input_ids: special tokens written in the
        text are recognised, no BOS is added."""
        data = utf8(text, "text") if isinstance(text, str) else bytes(text)
        capacity = len(data) + 1
        for _attempt in range(3):
            buf = (ctypes.c_int32 * capacity)()
            n = ctypes.c_int64(-1)
            try:
                self._call(LIB.ibtpo_trainer_tokenize, data, len(data), buf, capacity, ctypes.byref(n))
                return buf[: n.value]
            except IBTPOError as e:
                if e.code == ERR_INVALID_ARGUMENT and n.value > capacity:
                    capacity = n.value
                    continue
                raise
        raise error(ERR_INVALID_ARGUMENT, "ibtpo_trainer_tokenize kept asking for a larger buffer")  # pragma: no cover

    def detokenize(self, ids, errors: str = "replace") -> str:
        """The text of `ids` (special tokens dropped), decoded from UTF-8 with `errors`."""
        vec = _arrays.vector(ids, ctypes.c_int32, "ids", overflow_code=ERR_INVALID_ARGUMENT)
        raw = self._text_out(LIB.ibtpo_trainer_detokenize, _arrays.pointer(vec, ctypes.c_int32), len(vec),
                             capacity=4 * len(vec) + 16)
        return raw.decode("utf-8", errors)

    @property
    def chat_template_source(self) -> str:
        """The Jinja source of the model's chat template ("" when it has none)."""
        return self._text_out(LIB.ibtpo_trainer_chat_template, capacity=4096).decode("utf-8")

    def special_tokens(self) -> dict:
        """{"vocab": n, "bos": id, "eos": id, "pad": id} of the model's tokenizer."""
        v, b, e, p = ctypes.c_int64(), ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        self._call(LIB.ibtpo_trainer_special_tokens, ctypes.byref(v), ctypes.byref(b), ctypes.byref(e), ctypes.byref(p))
        return {"vocab": v.value, "bos": b.value, "eos": e.value, "pad": p.value}

    def apply_chat_template(self, messages, add_generation_prompt: bool = True, *, use_jinja: Optional[bool] = None) -> str:
        """`messages` ([{"role": ..., "content": ...}, ...]) rendered through the model's chat
        template. The library renders the ChatML and Llama 3 families natively; for any other
        template (or with use_jinja=True) the template's Jinja source is rendered with jinja2
        when it is installed (an optional dependency), as transformers does."""
        roles = [utf8(m["role"], "role") for m in messages]
        contents = [utf8(m["content"], "content") for m in messages]
        if use_jinja:
            return self._render_jinja(messages, add_generation_prompt)
        R = (ctypes.c_char_p * max(1, len(roles)))(*roles)
        C = (ctypes.c_char_p * max(1, len(contents)))(*contents)
        try:
            return self._text_out(LIB.ibtpo_trainer_apply_chat_template, R, C, len(roles),
                                  int(bool(add_generation_prompt)), capacity=1024).decode("utf-8")
        except IBTPOError as e:
            if e.code != ERR_NOT_SUPPORTED or use_jinja is False or not self.chat_template_source:
                raise
            return self._render_jinja(messages, add_generation_prompt)

    def _render_jinja(self, messages, add_generation_prompt: bool) -> str:
        try:
            import jinja2  # optional
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError as exc:
            raise error(ERR_NOT_SUPPORTED, "this chat template needs jinja2 (pip install jinja2)") from exc
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(jinja2.exceptions.TemplateError(msg))
        tok = self.special_tokens()
        return env.from_string(self.chat_template_source).render(
            messages=list(messages), add_generation_prompt=add_generation_prompt,
            bos_token=self.detokenize([tok["bos"]]) or "", eos_token=self.detokenize([tok["eos"]]) or "")

    def score(self, sequences, lengths=None):
        """Per-token log-probabilities of given sequences under the current policy.

        sequences: a 2-D numpy array (n × seq_len), or a list of token lists (rows may have
        different lengths; they are padded, and each row's length is its own unless
        `lengths` says otherwise). lengths: None or one length (1..seq_len) per row.
        For a numpy input, returns an n × seq_len float32 array with
        out[i][t] = log p(tokens[i][t+1] | tokens[i][..t]) for t + 1 < length and 0
        elsewhere. For lists, returns one list per row with its length − 1 log-probs.
        Changes nothing in the trainer."""
        flat, n, width, row_lens = _arrays.matrix(sequences, ctypes.c_int32, "sequences", pad=_lib.TOKEN_PAD)
        use_np = row_lens is None
        if lengths is not None:
            lens = _arrays.vector(lengths, ctypes.c_int64, "lengths", overflow_code=ERR_INVALID_ARGUMENT)
            if len(lens) != n:
                raise error(ERR_INVALID_ARGUMENT, f"lengths has {len(lens)} entries, sequences has {n} rows")
        elif row_lens is not None and len(set(row_lens)) > 1:
            lens = array.array("q", row_lens)  # ragged rows: each row's own length
        else:
            lens = None
        out = _arrays.empty(ctypes.c_float, n * width, use_np)
        self._call(LIB.ibtpo_trainer_score, _arrays.pointer(flat, ctypes.c_int32),
                   None if lens is None else _arrays.pointer(lens, ctypes.c_int64), n, width,
                   _arrays.pointer(out, ctypes.c_float))
        if use_np:
            return out.reshape(n, width)
        result = []
        for i in range(n):
            L = width if lens is None else lens[i]
            result.append(out[i * width: i * width + max(L - 1, 0)].tolist())
        return result

    # ---- evaluation and RL --------------------------------------------------------------

    def evaluate(self, task: Task, config: Union[EvalConfig, dict, None] = None) -> EvalResult:
        """Evaluates the policy on the first config.count test problems of `task`, with the
        task's verifier or the reward callback when one is set. Changes nothing."""
        c = coerce(EvalConfig, config).to_c()
        out = _lib.new_struct(_lib.ibtpo_eval_result)
        self._call(LIB.ibtpo_trainer_evaluate, ctypes.byref(c), ctypes.byref(out), task=task)
        return EvalResult.from_c(out)

    def rl_begin(self, task: Task, config: Union[RLConfig, dict, None] = None) -> int:
        """Starts (or restarts) GRPO / IB-TPO on `task` with `config` (an RLConfig, a dict of
        its fields or None for the defaults): the current parameters become the frozen KL
        reference. Returns the bytes of that reference copy. The trainer keeps its own
        reference to the task, so the Task may be closed afterwards."""
        c = coerce(RLConfig, config).to_c()
        nbytes = ctypes.c_uint64(0)
        self._call(LIB.ibtpo_trainer_rl_begin, ctypes.byref(c), ctypes.byref(nbytes), task=task)
        return nbytes.value

    def step_rl(self) -> RLMetrics:
        """One RL step (rollouts, rewards, advantages, PPO-clip updates); needs rl_begin. A
        reward callback failure or an abort leaves the trainer unchanged. An update whose loss
        or gradient is not finite is skipped (no change) and the step goes on; the returned
        optimizer_steps counts only the applied updates."""
        out = _lib.new_struct(_lib.ibtpo_rl_metrics)
        self._call(LIB.ibtpo_trainer_step_rl, ctypes.byref(out))
        return RLMetrics.from_c(out)

    # ---- checkpoints --------------------------------------------------------------------

    def save(self, path) -> None:
        """Writes parameters, AdamW state, step and RNG to `path` atomically."""
        self._call(LIB.ibtpo_trainer_save, _path_bytes(path))

    def load(self, path) -> None:
        """Loads a checkpoint of the same model config; validates it all before changing
        anything (IBTPO_ERR_BAD_CHECKPOINT, IBTPO_ERR_CONFIG_MISMATCH, IBTPO_ERR_IO)."""
        self._call(LIB.ibtpo_trainer_load, _path_bytes(path))

    def export(self, path, format: str = "hf", dtype: Optional[str] = None) -> None:
        """Writes the current model for other tools (ibtpo_trainer_export).

        format="hf": a Hugging Face directory at `path` (created if missing) that
        transformers' AutoModelForCausalLM.from_pretrained(path) loads, dtype "f32" (exact,
        the default) or "bf16". format="gguf": one llama.cpp GGUF file, dtype "f32", "f16"
        or "q8_0". A pretrained model's tokenizer and chat template go with it; a model
        libibtpo initialised has no tokenizer files. Files are written atomically."""
        if not isinstance(format, str) or (dtype is not None and not isinstance(dtype, str)):
            raise TypeError("format and dtype must be str")
        self._call(LIB.ibtpo_trainer_export, _path_bytes(path), format.encode("utf-8"),
                   None if dtype is None else dtype.encode("utf-8"))


def tree_advantages(parents, token_counts, mean_logps, rewards, config: Union[RLConfig, dict, None] = None):
    """IB-TPO credit assignment for a tree sampled elsewhere (docs/algorithm.md §3, §5).

    Node 0 is the root (the prompt): parents[0] = -1, token_counts[0] = 0. For i >= 1:
    0 <= parents[i] < i, token_counts[i] >= 1, mean_logps[i] (<= 0) is the mean sampling
    log-prob of node i's segment. rewards[i] in [0, 1] is read for leaves only. None
    entries (for the root, or for internal nodes' rewards) are passed as 0. config uses
    beta, lambda_, pibar_form, ratio_when_parent_zero and sqrt_n_weighting.

    Returns (ib_scores, advantages): per node, the IB-Score as a branching point (NaN for
    leaves) and A_GL + λ·A_IB, the advantage of every token of its segment (0 for the
    root). Lists of floats, or float64 numpy arrays when any input is a numpy array.
    """
    c = coerce(RLConfig, config).to_c()
    use_np = any(_arrays.is_ndarray(x) for x in (parents, token_counts, mean_logps, rewards))
    par = _arrays.vector(parents, ctypes.c_int32, "parents", overflow_code=ERR_INVALID_ARGUMENT)
    cnt = _arrays.vector(token_counts, ctypes.c_int32, "token_counts", overflow_code=ERR_INVALID_ARGUMENT)
    lp = _arrays.vector(mean_logps, ctypes.c_float, "mean_logps", none_as=0.0)
    rw = _arrays.vector(rewards, ctypes.c_float, "rewards", none_as=0.0)
    n = len(par)
    for what, v in (("token_counts", cnt), ("mean_logps", lp), ("rewards", rw)):
        if len(v) != n:
            raise error(ERR_INVALID_ARGUMENT, f"{what} has {len(v)} entries, parents has {n}")
    ib = _arrays.empty(ctypes.c_double, n, use_np)
    adv = _arrays.empty(ctypes.c_double, n, use_np)
    _check(LIB.ibtpo_tree_advantages(ctypes.byref(c), n, _arrays.pointer(par, ctypes.c_int32),
                                     _arrays.pointer(cnt, ctypes.c_int32), _arrays.pointer(lp, ctypes.c_float),
                                     _arrays.pointer(rw, ctypes.c_float), _arrays.pointer(ib, ctypes.c_double),
                                     _arrays.pointer(adv, ctypes.c_double)))
    if use_np:
        return ib, adv
    return ib.tolist(), adv.tolist()


def _int_arg(v, what: str) -> int:
    if isinstance(v, float) or not hasattr(v, "__index__") or not -(2**63) <= int(v) < 2**63:
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be an int64 integer, got {v!r}")
    return int(v)


def _u64_arg(v, what: str) -> int:
    if isinstance(v, float) or not hasattr(v, "__index__") or not 0 <= int(v) < 2**64:
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be an integer in 0..2^64-1, got {v!r}")
    return int(v)


def _path_bytes(path) -> bytes:
    try:
        b = os.fsencode(path)
    except TypeError:
        raise error(ERR_INVALID_ARGUMENT, f"path must be str, bytes or os.PathLike, got {path!r}") from None
    except UnicodeEncodeError as e:
        raise error(ERR_INVALID_ARGUMENT, f"path {path!r} cannot be encoded for the file system: {e.reason}") from None
    if b"\0" in b:
        raise error(ERR_INVALID_ARGUMENT, f"path contains a NUL byte: {path!r}")
    return b
