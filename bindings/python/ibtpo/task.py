"""Task: a set of problems (prompt, reference solution, answer) with a verifier."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, NamedTuple, Optional, Sequence, Union

from . import _lib
from ._errors import ERR_INVALID_ARGUMENT, OK, _check, error, last_error, utf8
from ._lib import LIB, SPLIT_TEST, SPLIT_TRAIN

_SPLITS = {"train": SPLIT_TRAIN, "test": SPLIT_TEST}
_MAX_PROBLEM_BYTES = 1 << 26  # get_problem buffers grow up to this (64 MiB per string)


class Problem(NamedTuple):
    """One problem of a task (UTF-8 decoded; undecodable bytes become U+FFFD)."""

    prompt: str
    solution: str
    answer: str


def split_value(split: Union[int, str]) -> int:
    """SPLIT_TRAIN / SPLIT_TEST from an int or "train" / "test" (other ints pass through,
    for the library to reject)."""
    if isinstance(split, str):
        try:
            return _SPLITS[split.lower()]
        except KeyError:
            raise error(ERR_INVALID_ARGUMENT, f"split must be 'train' or 'test' (or SPLIT_TRAIN / SPLIT_TEST), "
                        f"got {split!r}") from None
    if isinstance(split, float) or not hasattr(split, "__index__"):
        raise error(ERR_INVALID_ARGUMENT, f"split must be 'train', 'test' or an int, got {split!r}")
    split = int(split)
    if not -(2**31) <= split < 2**31:
        raise error(ERR_INVALID_ARGUMENT, f"split = {split} does not fit in int32_t")
    return split


def _c_string(s: Any, what: str) -> bytes:
    if isinstance(s, str):
        b = utf8(s, what)
    elif isinstance(s, (bytes, bytearray)):
        b = bytes(s)
    else:
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be str or bytes, got {type(s).__name__}")
    if b"\0" in b:
        raise error(ERR_INVALID_ARGUMENT, f"{what} contains a NUL byte (C strings cannot hold one)")
    return b


def _strings(values: Optional[Sequence], count: int, what: str):
    """(char *[count] or None, longest length)."""
    if values is None:
        return None, 0
    if isinstance(values, (str, bytes)):
        raise error(ERR_INVALID_ARGUMENT, f"{what} must be a list of strings, not a single string")
    values = list(values)
    if len(values) != count:
        raise error(ERR_INVALID_ARGUMENT, f"{what} has {len(values)} entries, prompts has {count}")
    encoded = [_c_string(v, f"{what}[{i}]") for i, v in enumerate(values)]
    return (ctypes.c_char_p * max(count, 1))(*encoded), max((len(b) for b in encoded), default=0)


class Task:
    """A set of problems split into train and test, with a verifier (``ibtpo_task``).

    Create one with ``Task.builtin``, ``Task.from_jsonl`` or ``Task.from_memory``. Tasks are
    immutable: one task may be used by several trainers and threads. ``close()``, a ``with``
    block or ``__del__`` release the handle, exactly once; a trainer that was given the task
    keeps its own reference, so closing it after ``rl_begin`` is fine. A close while another
    thread is inside a call with the task waits for that call to finish before the handle
    is freed. Any use after close raises InvalidArgumentError.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("create a Task with Task.builtin(), Task.from_jsonl() or Task.from_memory()")

    @classmethod
    def _wrap(cls, handle: int, description: str, capacity: int) -> "Task":
        self = object.__new__(cls)
        self._lock = threading.Lock()
        self._handle, self._users, self._close_pending = handle, 0, False
        self._description, self._capacity = description, max(int(capacity), 64)
        return self

    @staticmethod
    def _create(fn, *args) -> int:
        out = _lib.ibtpo_task_p()
        _check(fn(*args, ctypes.byref(out)))
        if not out.value:  # pragma: no cover - the library returned OK without a task
            raise error(ERR_INVALID_ARGUMENT, "the library returned no task")
        return out.value

    # ---- constructors ---------------------------------------------------------------

    @classmethod
    def builtin(cls, name: str, options: Union[dict, str, None] = None, seed: int = 0) -> "Task":
        """A built-in task ("add", "countdown", "modchain"; docs/tasks.md lists the options).
        options: a dict ({"digits": 2}), a "name=value,name=value" string, or None for the
        defaults. seed: the problem generator's seed."""
        name_b = _c_string(name, "name")
        if options is None:
            opts = b""
        elif isinstance(options, dict):
            parts = []
            for k, v in options.items():
                k, v = str(k), (str(int(v)) if isinstance(v, bool) else str(v))
                for what, text in (("option name", k), ("option value", v)):
                    if not text or any(c in text for c in ",= \t\n\0"):
                        raise error(ERR_INVALID_ARGUMENT, f"{what} {text!r} must be non-empty without ',', '=', "
                                    "spaces or NUL")
                parts.append(f"{k}={v}")
            opts = utf8(",".join(parts), "options")
        else:
            opts = _c_string(options, "options")
        if isinstance(seed, float) or not hasattr(seed, "__index__") or not 0 <= int(seed) < 2**64:
            raise error(ERR_INVALID_ARGUMENT, f"seed must be an integer in 0..2^64-1, got {seed!r}")
        h = cls._create(LIB.ibtpo_task_create_builtin, name_b, opts, int(seed))
        return cls._wrap(h, f"builtin {name!r} options={opts.decode()!r} seed={int(seed)}", 4096)

    @classmethod
    def from_jsonl(cls, path: Union[str, bytes, "os.PathLike[str]"], max_tokens: int,
                   step_delimiter: Union[str, bytes] = "\n") -> "Task":
        """A JSON Lines file of {"prompt", "answer", optional "solution" and "split"} objects;
        every prompt + solution must fit in max_tokens tokens (pass the model's max_seq).
        step_delimiter (1..64 bytes, default "\n") separates a completion's steps: the answer
        is read from the last step, and IB-TPO's trees branch where it is sampled.
        All or nothing: an error names the file and line."""
        from .trainer import _path_bytes
        if isinstance(max_tokens, float) or not hasattr(max_tokens, "__index__") \
                or not -(2**31) <= int(max_tokens) < 2**31:
            raise error(ERR_INVALID_ARGUMENT, f"max_tokens must be an int32 integer, got {max_tokens!r}")
        h = cls._create(LIB.ibtpo_task_create_jsonl_ex, _path_bytes(path), int(max_tokens),
                        _c_string(step_delimiter, "step_delimiter"))
        return cls._wrap(h, f"jsonl {os.fsdecode(path)!r}", int(max_tokens) + 64)

    @classmethod
    def from_memory(cls, prompts: Sequence, answers: Optional[Sequence] = None,
                    solutions: Optional[Sequence] = None, splits: Optional[Sequence] = None,
                    step_delimiter: Union[str, bytes] = "\n") -> "Task":
        """A task from in-memory strings (str is encoded as UTF-8; no NUL bytes).

        answers: one per prompt, checked by the built-in verifier (the completion's last line
        must be "answer: <answer>"), or None when a reward callback judges completions.
        solutions: reference completions for SFT, or None. splits: one of SPLIT_TRAIN /
        SPLIT_TEST / "train" / "test" per prompt, or None for a stable hash of the prompt
        (about 10% test). Both splits must be non-empty. step_delimiter (1..64 bytes, default
        "\n") separates a completion's steps, as in from_jsonl. The strings are copied; answers
        are stored whitespace-normalised (trimmed, each run of whitespace one space)."""
        if isinstance(prompts, (str, bytes)):
            raise error(ERR_INVALID_ARGUMENT, "prompts must be a list of strings, not a single string")
        try:
            prompts = list(prompts)
        except TypeError:
            raise error(ERR_INVALID_ARGUMENT, f"prompts must be a list of strings, got {prompts!r}") from None
        n = len(prompts)
        p, lp = _strings(prompts, n, "prompts")
        a, la = _strings(answers, n, "answers")
        s, ls = _strings(solutions, n, "solutions")
        sp = None
        if splits is not None:
            if isinstance(splits, (str, bytes)):
                raise error(ERR_INVALID_ARGUMENT, "splits must be a list, one entry per prompt")
            splits = list(splits)
            if len(splits) != n:
                raise error(ERR_INVALID_ARGUMENT, f"splits has {len(splits)} entries, prompts has {n}")
            sp = (ctypes.c_int32 * max(n, 1))(*[split_value(x) for x in splits])
        d = _c_string(step_delimiter, "step_delimiter")
        h = cls._create(LIB.ibtpo_task_create_memory_ex, p, a, s, sp, n, d)
        # Without a solution the library builds "answer: <answer>"; leave room for that.
        return cls._wrap(h, f"in-memory, {n} problems", max(lp, la, ls) + 64)

    # ---- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Releases the handle (idempotent). If another thread is inside a call with this
        task, the handle is freed when that call returns."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if self._handle is None or self._close_pending:
                return
            if self._users:
                self._close_pending = True
                return
            handle, self._handle = self._handle, None
        LIB.ibtpo_task_free(handle)

    @property
    def closed(self) -> bool:
        return self._handle is None or self._close_pending

    def __enter__(self) -> "Task":
        with self._borrow():
            pass
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return f"<ibtpo.Task {self._description}{' closed' if self.closed else ''}>"

    class _Borrow:
        """`with task._borrow() as handle:` keeps the handle alive during a call."""

        def __init__(self, task: "Task"):
            self.task = task

        def __enter__(self) -> int:
            t = self.task
            with t._lock:
                if t._handle is None or t._close_pending:
                    raise error(ERR_INVALID_ARGUMENT, "the task is closed")
                t._users += 1
                return t._handle

        def __exit__(self, *exc) -> None:
            t = self.task
            with t._lock:
                t._users -= 1
                free = t._users == 0 and t._close_pending
                if free:
                    handle, t._handle, t._close_pending = t._handle, None, False
            if free:
                LIB.ibtpo_task_free(handle)

    def _borrow(self) -> "Task._Borrow":
        return Task._Borrow(self)

    # ---- queries --------------------------------------------------------------------

    def problem_count(self, split: Union[int, str] = SPLIT_TRAIN) -> Optional[int]:
        """Problems in `split` ("train"/"test" or SPLIT_*), or None for an unbounded
        generator (the built-in tasks)."""
        sv = split_value(split)
        out = ctypes.c_int64(-2)
        with self._borrow() as h:
            _check(LIB.ibtpo_task_problem_count(h, sv, ctypes.byref(out)))
        return None if out.value == -1 else out.value

    def problem(self, split: Union[int, str], index: int) -> Problem:
        """Problem `index` (>= 0, below problem_count(split) when that is bounded)."""
        sv = split_value(split)
        if isinstance(index, float) or not hasattr(index, "__index__"):
            raise error(ERR_INVALID_ARGUMENT, f"index must be an integer, got {index!r}")
        index = int(index)
        count = self.problem_count(sv)
        if index < 0 or index >= 2**63 or (count is not None and index >= count):
            raise error(ERR_INVALID_ARGUMENT, f"problem index {index} is out of range for split {split!r} "
                        f"({'unbounded' if count is None else count} problems)")
        # ibtpo_task_get_problem cannot report the size it needs: grow the buffers until the
        # strings fit (the index was checked above, so INVALID_ARGUMENT means "too small").
        capacity = self._capacity
        with self._borrow() as h:
            while True:
                bufs = [ctypes.create_string_buffer(capacity) for _ in range(3)]
                status = LIB.ibtpo_task_get_problem(h, sv, index, bufs[0], bufs[1], bufs[2], capacity)
                if status == OK:
                    break
                if status != ERR_INVALID_ARGUMENT or capacity >= _MAX_PROBLEM_BYTES:
                    raise error(status, last_error(None))
                capacity *= 4
        self._capacity = capacity
        return Problem(*(b.value.decode("utf-8", "replace") for b in bufs))
