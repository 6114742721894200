"""Task: built-in, JSON Lines and in-memory tasks; problems; lifetime (freed exactly once)."""
from __future__ import annotations

import ctypes
import gc
import json
import threading

import pytest

import ibtpo
from ibtpo import _lib

from conftest import add_answer, answer_line


class _CountTaskFree:
    """Wraps ibtpo_task_free to record every handle it frees."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = _lib.LIB.ibtpo_task_free

        def free(handle):
            self.calls.append(handle)
            real(handle)

        monkeypatch.setattr(_lib.LIB, "ibtpo_task_free", free)


# ---- built-in tasks ---------------------------------------------------------------------

def test_builtin_add_problems_follow_docs_tasks_md():
    with ibtpo.Task.builtin("add", {"digits": 1}, seed=5) as t:
        assert t.problem_count("train") is None and t.problem_count(ibtpo.SPLIT_TEST) is None  # unbounded
        for split in ("train", "test"):
            for i in range(20):
                p = t.problem(split, i)
                assert isinstance(p, ibtpo.Problem)
                a, b = p.prompt.strip().split("+")
                assert p.prompt == f"{int(a)}+{int(b)}\n" and 0 <= int(a) <= 9 and 0 <= int(b) <= 9
                assert p.answer == add_answer(p.prompt)  # computed here from the prompt
                # one column step "a+b+0=s", then the answer line
                assert p.solution == f"{a}+{b}+0={int(a) + int(b)}\nanswer: {p.answer}"
                assert answer_line(p.solution) == p.answer
        assert t.problem("train", 3) == t.problem(ibtpo.SPLIT_TRAIN, 3)  # deterministic


def test_builtin_options_as_dict_or_string_and_seed():
    with ibtpo.Task.builtin("add", {"digits": 3}, 1) as a, ibtpo.Task.builtin("add", "digits=3", 1) as b, \
            ibtpo.Task.builtin("add", "digits=3", 2) as c:
        pa = [a.problem("train", i) for i in range(10)]
        assert pa == [b.problem("train", i) for i in range(10)]
        assert pa != [c.problem("train", i) for i in range(10)]
        assert all(len(p.solution.split("\n")) == 4 for p in pa)  # 3 column steps + the answer line
    with ibtpo.Task.builtin("countdown", "numbers=3,max_number=10") as t:
        p = t.problem("train", 0)
        assert p.prompt.startswith("make ") and len(p.prompt.split(" from ")[1].split()) == 3
    with ibtpo.Task.builtin("modchain", {"steps": 2, "mod": 7}) as t:
        assert t.problem("test", 0).prompt.endswith(" mod 7\n")
    with ibtpo.Task.builtin("add") as t:  # defaults: 3 digits
        assert len(t.problem("train", 0).solution.split("\n")) == 4


@pytest.mark.parametrize("name,options,word", [
    ("mul", None, "mul"), ("add", {"digit": 2}, "digit"), ("add", {"digits": 19}, "digits"),
    ("add", "digits=x", "digits"), ("countdown", {"numbers": 6}, "numbers"),
])
def test_builtin_errors_name_the_problem(name, options, word):
    with pytest.raises(ibtpo.InvalidArgumentError) as e:
        ibtpo.Task.builtin(name, options)
    assert e.value.code == ibtpo.ERR_INVALID_ARGUMENT and word in e.value.message, e.value.message


def test_builtin_python_side_errors():
    for options in ({"digits": "1,2"}, {"": 1}, {"a b": 1}):
        with pytest.raises(ibtpo.InvalidArgumentError, match="option"):
            ibtpo.Task.builtin("add", options)
    with pytest.raises(ibtpo.InvalidArgumentError, match="NUL"):
        ibtpo.Task.builtin("add\0", None)
    with pytest.raises(ibtpo.InvalidArgumentError, match="seed"):
        ibtpo.Task.builtin("add", None, seed=-1)
    with pytest.raises(TypeError, match="Task.builtin"):
        ibtpo.Task()


def test_problem_index_and_split_errors():
    with ibtpo.Task.builtin("add", {"digits": 1}) as t:
        for split, index in (("train", -1), ("valid", 0), (2, 0), ("train", 1.0)):
            with pytest.raises(ibtpo.InvalidArgumentError):
                t.problem(split, index)
        with pytest.raises(ibtpo.InvalidArgumentError):
            t.problem_count(7)  # rejected by the library
        with pytest.raises(ibtpo.InvalidArgumentError):
            t.problem_count(-1)


# ---- in-memory tasks --------------------------------------------------------------------

def test_from_memory_with_splits_answers_and_solutions():
    prompts = [f"{i}*2=?\n" for i in range(10)] + ["é\n"]
    answers = [str(2 * i) for i in range(10)] + ["€"]
    solutions = [f"{i}*2={2 * i}\nanswer: {2 * i}" for i in range(10)] + ["answer: €"]
    splits = ["train"] * 7 + [ibtpo.SPLIT_TEST] * 3 + ["train"]
    with ibtpo.Task.from_memory(prompts, answers, solutions, splits) as t:
        assert (t.problem_count("train"), t.problem_count("test")) == (8, 3)
        train = [t.problem("train", i) for i in range(8)]
        test = [t.problem("test", i) for i in range(3)]
        want_train = [ibtpo.Problem(p, s, a) for p, s, a, sp in zip(prompts, solutions, answers, splits)
                      if sp == "train"]
        want_test = [ibtpo.Problem(p, s, a) for p, s, a, sp in zip(prompts, solutions, answers, splits)
                     if sp != "train"]
        assert sorted(train) == sorted(want_train) and sorted(test) == sorted(want_test)
        with pytest.raises(ibtpo.InvalidArgumentError, match="out of range"):
            t.problem("train", 8)
        # the library's own range check (the binding's pre-check bypassed)
        buf = ctypes.create_string_buffer(64)
        with t._borrow() as h:
            assert _lib.LIB.ibtpo_task_get_problem(h, 0, 8, buf, None, None, 64) == ibtpo.ERR_INVALID_ARGUMENT
            assert _lib.LIB.ibtpo_task_get_problem(h, 0, 0, buf, None, None, 2) == ibtpo.ERR_INVALID_ARGUMENT
            assert _lib.LIB.ibtpo_task_get_problem(h, 0, 0, buf, None, None, 64) == ibtpo.OK


def test_from_memory_without_solutions_and_long_strings():
    long_prompt = "x" * 5000 + "\n"
    with ibtpo.Task.from_memory(["a\n", long_prompt], ["1", "2"], splits=[0, 1]) as t:
        p = t.problem("test", 0)
        assert p.prompt == long_prompt and p.answer == "2"
        assert answer_line(p.solution) == "2"  # SFT uses the answer line
        t._capacity = 64  # get_problem cannot report sizes: the binding grows its buffers until they fit
        assert t.problem("test", 0) == p


def test_from_memory_answers_are_whitespace_normalised():
    with ibtpo.Task.from_memory(["a\n", "b\n"], ["  1  ", "x\n \ty"], splits=[0, 1]) as t:
        assert (t.problem("train", 0).answer, t.problem("test", 0).answer) == ("1", "x y")


def test_from_memory_hash_split_and_no_answers():
    prompts = [f"q{i}\n" for i in range(200)]
    with ibtpo.Task.from_memory(prompts) as t:
        n_train, n_test = t.problem_count("train"), t.problem_count("test")
        assert n_train + n_test == 200 and 0 < n_test < 60  # about 10% test
        got = {t.problem("train", i).prompt for i in range(n_train)} | {t.problem("test", i).prompt
                                                                         for i in range(n_test)}
        assert got == set(prompts)


def test_from_memory_without_answers_has_empty_answers():
    with ibtpo.Task.from_memory(["a\n", "b\n"], splits=[0, 1]) as t:
        print(t.problem("train", 0))
        assert t.problem("train", 0).answer == ""


@pytest.mark.parametrize("kwargs,word,code", [
    ({"prompts": []}, "count", 1), ({"prompts": ["a"], "splits": [0]}, "test split is empty", 9),
    ({"prompts": ["a", "b"], "splits": [0, 5]}, "splits[1]", 1),
    ({"prompts": ["a", "b"], "answers": ["1", "  "], "splits": [0, 1]}, "answer", 9),  # empty after normalisation
    ({"prompts": ["a", "b"], "answers": ["1"]}, "answers", 1), ({"prompts": ["a\0"]}, "NUL", 1),
    ({"prompts": ["a", b"\xff"]}, "prompts[1]", 1),  # not UTF-8: the library's check
    ({"prompts": "ab"}, "list", 1), ({"prompts": ["a", 3]}, "prompts[1]", 1),
    ({"prompts": ["a", "b"], "splits": ["train", "dev"]}, "split", 1),
])
def test_from_memory_errors(kwargs, word, code):
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_memory(**kwargs)
    print(e.value)
    assert e.value.code == code and word in e.value.message


# ---- JSON Lines -------------------------------------------------------------------------

def test_from_jsonl(tmp_path):
    rows = [{"prompt": f"{i}+{i}=?\n", "answer": str(2 * i), "split": "test" if i < 2 else "train"} for i in range(6)]
    rows[3]["solution"] = "3+3=6\nanswer: 6"
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    with ibtpo.Task.from_jsonl(path, 64) as t:
        assert (t.problem_count("train"), t.problem_count("test")) == (4, 2)
        probs = {t.problem("train", i).prompt: t.problem("train", i) for i in range(4)}
        assert probs["3+3=?\n"].solution == "3+3=6\nanswer: 6"
        assert probs["4+4=?\n"].answer == "8" and answer_line(probs["4+4=?\n"].solution) == "8"
    with ibtpo.Task.from_jsonl(str(path), 64) as t:
        assert t.problem_count("test") == 2


def test_step_delimiter_is_what_the_verifier_splits_on(tmp_path):
    # The library checks every solution with its verifier: the answer must be the last step.
    rows = [{"prompt": "3+4\n", "answer": "7", "solution": "3+4=7\n\nanswer: 7", "split": "train"},
            {"prompt": "1+1\n", "answer": "2", "split": "test"}]
    path = tmp_path / "steps.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with ibtpo.Task.from_jsonl(path, 64, step_delimiter="\n\n") as t:
        assert t.problem("train", 0).solution == "3+4=7\n\nanswer: 7"
    rows[0]["solution"] = "3+4=7 | answer: 7"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_jsonl(path, 64)  # "\n": one step, not an answer step
    assert "steps.jsonl:1" in e.value.message, e.value.message
    with ibtpo.Task.from_jsonl(path, 64, step_delimiter=" | ") as t:
        assert t.problem_count("train") == 1
    kw = dict(prompts=["1+2\n", "2+2\n"], answers=["3", "4"], solutions=["1+2=3;;answer: 3", "2+2=4;;answer: 4"],
              splits=["train", "test"])
    with ibtpo.Task.from_memory(**kw, step_delimiter=";;") as t:
        assert t.problem("test", 0).solution == "2+2=4;;answer: 4"
    with pytest.raises(ibtpo.IBTPOError):
        ibtpo.Task.from_memory(**kw)
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_memory(["1+2\n", "2+2\n"], ["3", "4;;5"], splits=["train", "test"], step_delimiter=";;")
    assert "delimiter" in e.value.message, e.value.message
    for bad in ["", "x" * 65, "a\0b", 3]:
        with pytest.raises(ibtpo.InvalidArgumentError) as e:
            ibtpo.Task.from_memory(["1+2\n", "2+2\n"], splits=["train", "test"], step_delimiter=bad)
        assert "step_delimiter" in e.value.message, e.value.message


def test_from_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a\\n", "answer": "1", "split": "test"}\n{"prompt": "b\\n"}\n')
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_jsonl(path, 64)
    assert "bad.jsonl:2" in e.value.message, e.value.message
    path.write_text('{"prompt": "' + "x" * 100 + '\\n", "answer": "1"}\n')
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_jsonl(path, 32)  # prompt + answer line longer than 32 tokens
    assert "bad.jsonl:1" in e.value.message, e.value.message
    with pytest.raises(ibtpo.IBTPOError) as e:
        ibtpo.Task.from_jsonl(tmp_path / "missing.jsonl", 64)
    assert "missing.jsonl" in e.value.message
    with pytest.raises(ibtpo.InvalidArgumentError):
        ibtpo.Task.from_jsonl(path, 2**31)


# ---- lifetime ---------------------------------------------------------------------------

def test_close_context_manager_and_del_free_exactly_once(monkeypatch):
    freed = _CountTaskFree(monkeypatch)
    t1 = ibtpo.Task.builtin("add")
    h1 = t1._handle
    t1.close()
    t1.close()
    with ibtpo.Task.builtin("add") as t2:
        h2 = t2._handle
    t2.close()
    t3 = ibtpo.Task.from_memory(["a", "b"], splits=[0, 1])
    h3 = t3._handle
    del t3
    gc.collect()
    with pytest.raises(ibtpo.IBTPOError):
        ibtpo.Task.builtin("nope")  # a failed create frees nothing
    assert freed.calls == [h1, h2, h3]


def test_use_after_close_raises_never_crashes():
    t = ibtpo.Task.builtin("add")
    t.close()
    assert t.closed and "closed" in repr(t)
    with ibtpo.Trainer(ibtpo.TrainerConfig(batch=2, seq=32, threads=1, rollout_slots=8,
                                           model=ibtpo.ModelConfig(d_model=32, n_layers=1, max_seq=32))) as tr:
        for action in (lambda: t.problem_count("train"), lambda: t.problem("train", 0), lambda: t.__enter__(),
                       lambda: tr.step_sft(t), lambda: tr.evaluate(t), lambda: tr.rl_begin(t)):
            with pytest.raises(ibtpo.InvalidArgumentError) as e:
                action()
            assert "closed" in e.value.message
        assert tr.step == 0


def test_close_while_in_use_is_deferred(monkeypatch):
    """A close from another thread while a call holds the task frees it after the call."""
    freed = _CountTaskFree(monkeypatch)
    t = ibtpo.Task.builtin("add")
    h = t._handle
    with t._borrow():
        th = threading.Thread(target=t.close)
        th.start()
        th.join()
        assert freed.calls == [] and t.closed
        with pytest.raises(ibtpo.InvalidArgumentError):
            t.problem("train", 0)
    assert freed.calls == [h]
    t.close()
    assert freed.calls == [h]


def test_null_task_arguments_are_rejected_by_the_library():
    n = ctypes.c_int64(0)
    assert _lib.LIB.ibtpo_task_problem_count(None, 0, ctypes.byref(n)) == ibtpo.ERR_INVALID_ARGUMENT
    out = _lib.ibtpo_task_p(123)
    assert _lib.LIB.ibtpo_task_create_builtin(None, None, 0, ctypes.byref(out)) == ibtpo.ERR_INVALID_ARGUMENT
    assert out.value is None  # *out is NULL on failure
    _lib.LIB.ibtpo_task_free(None)  # a no-op


def test_one_task_shared_by_trainers_in_threads():
    """Tasks are immutable: two trainers in two threads use one task at the same time and get
    what they get one after the other."""
    from conftest import gen_config

    def run(task, out):
        with ibtpo.Trainer(gen_config()) as t:
            out.extend(t.step_sft(task)["loss"] for _ in range(5))

    with ibtpo.Task.builtin("add", {"digits": 2}) as task:
        alone: list = []
        run(task, alone)
        outs: list = [[], []]
        ths = [threading.Thread(target=run, args=(task, o)) for o in outs]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
    assert outs[0] == alone and outs[1] == alone
