"""Ctrl-C during a long library call: the binding's progress callback runs pending signal
handlers, so SIGINT stops the call at its next abort point (trainer unchanged) and raises
KeyboardInterrupt chained to the library's AbortedError, even without a progress fn."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import ibtpo

from conftest import GEN_SLOTS, gen_config


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
@pytest.mark.parametrize("with_progress_fn", [False, True])
def test_sigint_interrupts_a_long_generate(with_progress_fn):
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ibtpo.Trainer(gen_config()) as t:
            if with_progress_fn:
                t.set_progress_fn(lambda phase, done, total: None)
            sampling = {"temperature": 1.0, "max_new_tokens": 40}
            inside = 0
            for attempt in range(5):  # the signal may land between two calls, in Python code
                timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
                start = time.monotonic()
                timer.start()
                try:
                    with pytest.raises(KeyboardInterrupt) as e:
                        while time.monotonic() - start < 60:
                            t.generate("1+2\n", n=GEN_SLOTS, sampling=sampling, seed=attempt)
                finally:
                    timer.cancel()
                    timer.join()
                if isinstance(e.value.__cause__, ibtpo.AbortedError):
                    inside += 1
                    break
            print(f"KeyboardInterrupt raised inside generate after {attempt + 1} attempt(s)")
            assert inside == 1, "SIGINT was only ever seen between library calls"
            assert t.step == 0
            assert len(t.generate("1+2\n", n=2)) == 2  # the trainer still works
    finally:
        signal.signal(signal.SIGINT, old)
