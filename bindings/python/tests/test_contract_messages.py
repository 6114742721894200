"""The library's errors instead of raw ctypes / codec exceptions, and documented details of
the contract (get_config's threads)."""
from __future__ import annotations

import pytest

import ibtpo

from conftest import add_task, gen_config, tiny_config


def test_none_task_raises_the_library_error_not_a_ctypes_type_error():
    with ibtpo.Trainer(gen_config()) as t:
        for call in (lambda: t.step_sft(None), lambda: t.evaluate(None), lambda: t.rl_begin(None)):
            with pytest.raises(ibtpo.InvalidArgumentError, match="task must be an ibtpo.Task, got None"):
                call()
        with pytest.raises(ibtpo.InvalidArgumentError, match="task must be an ibtpo.Task"):
            t.step_sft("add")
        assert t.step == 0


@pytest.mark.parametrize("call", [
    lambda: ibtpo.tokenize("a\ud800b"),
    lambda: ibtpo.Task.from_memory(["1+1\n\udc00", "2+2\n"], answers=["2", "4"], splits=[0, 1]),
    lambda: ibtpo.Task.from_memory(["1+1\n", "2+2\n"], answers=["\ud83d", "4"], splits=[0, 1]),
])
def test_lone_surrogate_raises_invalid_argument_not_unicode_encode_error(call):
    with pytest.raises(ibtpo.InvalidArgumentError, match="lone surrogate") as e:
        call()
    assert not isinstance(e.value, UnicodeEncodeError)


def test_generate_with_a_lone_surrogate_prompt():
    with ibtpo.Trainer(gen_config()) as t:
        with pytest.raises(ibtpo.InvalidArgumentError, match="prompt.*lone surrogate"):
            t.generate("1+\ud800\n")


def test_get_config_reports_the_current_thread_count():
    with ibtpo.Trainer(tiny_config()) as t:
        assert t.config.threads == 1
        t.threads = 64
        assert t.config.threads == 64 == t.threads
