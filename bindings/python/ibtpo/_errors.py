"""Status codes, the exception type, and the one place statuses become exceptions."""
from __future__ import annotations

from ._lib import LIB

# Status codes of include/ibtpo.h (values are never reused; new ones are only added).
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_OUT_OF_MEMORY = 2
ERR_IO = 3
ERR_BAD_CHECKPOINT = 4
ERR_CONFIG_MISMATCH = 5
ERR_ABORTED = 6
ERR_CALLBACK_FAILED = 7
ERR_NOT_SUPPORTED = 8
ERR_BAD_DATA = 9
ERR_INTERNAL = 10
ERR_BUSY = 11  # 0.4
ERR_PARTIAL = 12  # 0.4

#: code -> header macro name
STATUS_NAMES = {
    value: "IBTPO_" + name
    for name, value in dict(globals()).items()
    if name == "OK" or name.startswith("ERR_")
}


def status_string(code: int) -> str:
    """The library's static description of a status ("unknown status" for unknown codes)."""
    code = int(code)
    if not -(2**31) <= code < 2**31:
        return "unknown status"  # not representable as ibtpo_status (int32_t)
    return LIB.ibtpo_status_string(code).decode("utf-8", "replace")


def status_name(code: int) -> str:
    """The header's macro name for `code`, e.g. "IBTPO_ERR_IO", or "IBTPO_UNKNOWN(<code>)"."""
    return STATUS_NAMES.get(int(code), f"IBTPO_UNKNOWN({int(code)})")


class IBTPOError(Exception):
    """A libibtpo call failed.

    Attributes: ``code`` (the int status), ``status`` (its header name, e.g.
    ``"IBTPO_ERR_BAD_CHECKPOINT"``) and ``message`` (the library's last error for the call:
    the handle's ``ibtpo_last_error``, or the calling thread's for handle-less calls).
    """

    def __init__(self, code: int, message: str = ""):
        self.code = int(code)
        self.status = status_name(self.code)
        self.message = message
        text = f"{self.status} ({status_string(self.code)})"
        super().__init__(f"{text}: {message}" if message else text)

    def __reduce__(self):  # picklable (multiprocessing) despite the custom __init__
        return (type(self), (self.code, self.message))


class InvalidArgumentError(IBTPOError, ValueError):
    """IBTPO_ERR_INVALID_ARGUMENT; also raised for wrong shapes and for a closed trainer."""


class BadDataError(IBTPOError, ValueError):
    """IBTPO_ERR_BAD_DATA: an input value (token, target, weight) is out of range."""


class AbortedError(IBTPOError):
    """IBTPO_ERR_ABORTED: the progress callback asked to stop; the trainer is unchanged."""


class CallbackFailedError(IBTPOError):
    """IBTPO_ERR_CALLBACK_FAILED: the reward callback failed or returned a reward that is not
    a finite number in [0, 1]; the trainer is unchanged. When the callback was a Python
    function that raised, the binding raises that exception instead, with this error as
    its ``__cause__``."""


class BusyError(IBTPOError):
    """IBTPO_ERR_BUSY: another call on the trainer was running (on another thread, or this
    was a callback calling its own trainer); nothing was done. The library refuses at once
    and never waits, so callbacks that use other trainers cannot deadlock."""


class PartiallyAppliedError(IBTPOError):
    """IBTPO_ERR_PARTIAL: the call failed part-way and some of its effects stay applied; the
    message says which (step_rl: "k of n optimiser updates ... were applied")."""


_CLASSES = {ERR_INVALID_ARGUMENT: InvalidArgumentError, ERR_BAD_DATA: BadDataError, ERR_ABORTED: AbortedError,
            ERR_CALLBACK_FAILED: CallbackFailedError, ERR_BUSY: BusyError,
            ERR_PARTIAL: PartiallyAppliedError}


def error(code: int, message: str = "") -> IBTPOError:
    """The exception for `code` (the most specific subclass of IBTPOError)."""
    return _CLASSES.get(int(code), IBTPOError)(code, message)


def utf8(text: str, what: str) -> bytes:
    """`text` encoded as UTF-8; a lone surrogate (which UTF-8 cannot encode) raises
    InvalidArgumentError naming `what` and the position instead of a UnicodeEncodeError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise error(ERR_INVALID_ARGUMENT, f"{what} is not valid Unicode: {text[e.start:e.end]!r} at index "
                    f"{e.start} is a lone surrogate, which UTF-8 cannot encode") from None


def last_error(handle=None) -> str:
    """ibtpo_last_error(handle) as str; handle None = this thread's handle-less error (also
    where the message of an IBTPO_ERR_BUSY refusal is)."""
    return LIB.ibtpo_last_error(handle).decode("utf-8", "replace")


def _check(status: int, handle=None) -> None:
    """Raise the matching IBTPOError unless `status` is IBTPO_OK. Call it right after the
    C call, on the same thread and before any other call on `handle`."""
    if status != OK:
        raise error(status, last_error(None if status == ERR_BUSY else handle))
