"""Shared helpers for the PyTorch peer benchmarks.

The model mirrors libibtpo's Llama-style policy: vocab 259 (256 bytes + BOS/EOS/PAD),
RMSNorm eps 1e-5, RoPE theta 10000 (rotate-half), SwiGLU MLP, no biases,
tied input/output embeddings, float32.
"""
import argparse
import os
import statistics
import sys

VOCAB = 259
BOS, EOS, PAD = 256, 257, 258

CONFIGS = {
    "tiny": dict(d_model=128, n_layers=4, n_heads=4, n_kv_heads=4, d_ff=384, seq=64, batch=32),
    "small": dict(d_model=256, n_layers=6, n_heads=8, n_kv_heads=8, d_ff=768, seq=128, batch=32),
}


def set_threads_env(threads: int) -> None:
    """Must run before `import torch`: pins every OpenMP/MKL pool to `threads`."""
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(threads)


def set_torch_threads(torch, threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only allowed once per process)
    assert torch.get_num_threads() == threads, torch.get_num_threads()


def llama_config(name: str, attn: str = "sdpa"):
    from transformers import LlamaConfig

    c = CONFIGS[name]
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=c["d_model"],
        intermediate_size=c["d_ff"],
        num_hidden_layers=c["n_layers"],
        num_attention_heads=c["n_heads"],
        num_key_value_heads=c["n_kv_heads"],
        hidden_act="silu",
        max_position_embeddings=max(512, c["seq"] * 2),
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=True,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        torch_dtype="float32",
    )
    cfg._attn_implementation = attn
    return cfg


def build_hf_model(torch, name: str, attn: str = "sdpa", seed: int = 0):
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = llama_config(name, attn)
    model = LlamaForCausalLM(cfg).to(torch.float32)
    # Check the architecture really is what we claim.
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "embeddings not tied"
    assert all(b is None for m in model.modules() for b in [getattr(m, "bias", None)] if isinstance(m, torch.nn.Linear))
    got = getattr(model.config, "_attn_implementation", attn)
    assert got == attn, (got, attn)
    return model


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def median(xs):
    return statistics.median(xs)


def emit(**kv) -> None:
    """Print one parseable `key=value ...` line on stdout (adds idle_before if the parent measured it)."""
    kv["omp_wait"] = os.environ.get("OMP_WAIT_POLICY", "default").lower()
    if os.environ.get("PEERS_IDLE_BEFORE"):
        kv["idle_before"] = float(os.environ["PEERS_IDLE_BEFORE"])
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.1f}" if abs(v) >= 100 else f"{v:.3f}"
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


def loadavg() -> str:
    try:
        return os.getloadavg().__repr__()
    except OSError:
        return "?"


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine noise
# The machines are shared 2-core boxes; OpenMP 2-thread runs collapse when another
# process takes a core. We (a) wait for an idle machine before each measurement and
# (b) report how much CPU *other* processes used during the timed region.

def _cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v[:8]), idle  # exclude guest columns (already in user)


def _self_cpu_ticks():
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of this process (all threads)


def idle_fraction(interval: float = 0.5) -> float:
    import time

    t0, i0 = _cpu_times()
    time.sleep(interval)
    t1, i1 = _cpu_times()
    return (i1 - i0) / max(1, t1 - t0)


def wait_idle(threshold: float = 0.9, max_wait: float = None, interval: float = 1.0) -> float:
    """Block until the machine is >= threshold idle (all cores), or max_wait seconds passed.

    PEERS_IDLE_WAIT (seconds, default 120) sets max_wait; 0 disables waiting.
    Returns the last measured idle fraction.
    """
    import time

    if max_wait is None:
        max_wait = float(os.environ.get("PEERS_IDLE_WAIT", "120"))
    start = time.time()
    while True:
        f = idle_fraction(interval)
        if f >= threshold or time.time() - start >= max_wait:
            if f < threshold:
                log(f"machine still busy after {max_wait:.0f}s (idle {f:.0%}); measuring anyway")
            return f
        log(f"waiting for idle machine (idle {f:.0%}, load {loadavg()})")


class ForeignCPU:
    """Fraction of the machine's CPU capacity used by *other* processes during a block."""

    def __enter__(self):
        self.t0, self.i0 = _cpu_times()
        self.s0 = _self_cpu_ticks()
        return self

    def __exit__(self, *exc):
        t1, i1 = _cpu_times()
        s1 = _self_cpu_ticks()
        total = max(1, t1 - self.t0)
        busy = (t1 - self.t0) - (i1 - self.i0)
        self.value = max(0.0, (busy - (s1 - self.s0)) / total)
        return False


def parse_or_run_child(p, child):
    """Adds the hidden --child flag and parses the command line. In a child process (the
    parent re-runs the script once per thread count) runs child(args) with an int
    args.threads and exits with its status; otherwise returns the parsed arguments."""
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        a.threads = int(a.threads)
        sys.exit(child(a))
    return a


def time_generate(torch, model, prompts, mask, kw, new_tokens, repeats, min_time=0.0, max_repeats=None):
    """Wall times of `model.generate(input_ids=prompts, attention_mask=mask, **kw)`: one
    warm-up call, then at least `repeats` timed calls, and more (up to `max_repeats`) until
    `min_time` seconds are timed. Each call is seeded (100 + i) and must return exactly
    `new_tokens` new tokens per row. Returns (times, foreign_cpu) where foreign_cpu is the
    share of CPU other processes used meanwhile (ForeignCPU)."""
    import time
    cap = repeats if max_repeats is None else max(repeats, max_repeats)
    times = []
    with torch.inference_mode(), ForeignCPU() as noise:
        i = 0
        while i < 1 + repeats or (sum(times) < min_time and i < 1 + cap):
            torch.manual_seed(100 + i)
            t0 = time.perf_counter()
            out = model.generate(input_ids=prompts, attention_mask=mask, **kw)
            dt = time.perf_counter() - t0
            assert out.shape == (prompts.shape[0], prompts.shape[1] + new_tokens), out.shape
            if i > 0:
                times.append(dt)
            i += 1
    return times, noise.value
