"""numpy is optional: the whole API works with lists when numpy cannot be imported."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import ibtpo

TESTS = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.dirname(os.path.dirname(ibtpo.__file__))

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["numpy"] = None  # `import numpy` now raises ImportError
    import ibtpo
    from ibtpo import _arrays
    from conftest import gen_config, rl_config, add_task
    assert _arrays.np is None
    assert ibtpo.detokenize(ibtpo.tokenize(b"a\\0b", add_bos=True)) == b"a\\0b"
    ib, adv = ibtpo.tree_advantages([-1, 0, 0], [0, 1, 2], [0.0, -0.5, -1.0], [0.0, 1.0, 0.0])
    assert isinstance(adv, list) and len(adv) == 3 and adv[1] > 0 > adv[2]
    with add_task() as task, ibtpo.Trainer(gen_config()) as t:
        t.step_sft(task)
        c = t.generate(b"3+4\\n", 2, {"max_new_tokens": 8}, seed=1)
        assert isinstance(c[0].tokens, list) and isinstance(c[0].logps, list)
        rows = t.score([ibtpo.tokenize(b"3+4\\n", True) + list(x.tokens) for x in c])
        assert max(abs(a - b) for a, b in zip(rows[0][4:], c[0].logps)) < 1e-4
        t.set_reward_fn(lambda p, comp, a: 0.5)
        t.rl_begin(task, rl_config("ibtpo"))
        assert t.step_rl().avg_rate == 0.5
        assert t.evaluate(task, {"count": 2, "k": 1, "sampling": {"max_new_tokens": 8}}).problems == 2
    print("no-numpy OK")
""")


def test_everything_works_without_numpy():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PKG_DIR, TESTS]))
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "no-numpy OK"
