/// The parameters under the names and layouts other tools use: Hugging Face's
/// LlamaForCausalLM / Qwen2ForCausalLM state dict and llama.cpp's GGUF tensors.
extension Model {
    /// One parameter tensor under its Hugging Face name, with the (out × in) row-major
    /// shape `nn.Linear` uses; `data` points into `params` (valid while the model lives).
    public struct NamedTensor {
        public var name: String
        public var shape: [Int]
        public var data: UnsafeMutablePointer<Float>
        public var count: Int { shape.reduce(1, *) }
    }

    /// Every parameter under its Hugging Face name, in the layout's order:
    /// model.embed_tokens.weight, model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj
    /// [+ q/k/v biases], post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm.weight,
    /// and lm_head.weight unless the head is tied. Q and K rows are in the rotate-half order
    /// both libibtpo and transformers use, so nothing is permuted.
    public func huggingFaceTensors() -> [NamedTensor] {
        layout.tensors.compactMap { t in
            guard let name = Model.huggingFaceName(t.name) else { return nil }
            return NamedTensor(name: name, shape: t.shape, data: params + t.offset)
        }
    }

    /// The Hugging Face name of a `ParamLayout` tensor ("layers.3.attention.wq" →
    /// "model.layers.3.self_attn.q_proj.weight"), nil for a name it does not know.
    static func huggingFaceName(_ layoutName: String) -> String? {
        switch layoutName {
        case "tok_embeddings": return "model.embed_tokens.weight"
        case "norm": return "model.norm.weight"
        case "output": return "lm_head.weight"
        default: break
        }
        let parts = layoutName.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "layers", let l = Int(parts[1]) else { return nil }
        let leaf: [String: String] = [
            "attention_norm": "input_layernorm.weight", "ffn_norm": "post_attention_layernorm.weight",
            "attention.wq": "self_attn.q_proj.weight", "attention.wk": "self_attn.k_proj.weight",
            "attention.wv": "self_attn.v_proj.weight", "attention.wo": "self_attn.o_proj.weight",
            "attention.bq": "self_attn.q_proj.bias", "attention.bk": "self_attn.k_proj.bias",
            "attention.bv": "self_attn.v_proj.bias",
            "feed_forward.w_gate": "mlp.gate_proj.weight", "feed_forward.w_up": "mlp.up_proj.weight",
            "feed_forward.w_down": "mlp.down_proj.weight",
        ]
        return leaf[parts[2]].map { "model.layers.\(l).\($0)" }
    }

    /// The GGUF name of a `ParamLayout` tensor ("layers.3.attention.wq" → "blk.3.attn_q.weight").
    static func ggufName(_ layoutName: String) -> String? {
        switch layoutName {
        case "tok_embeddings": return "token_embd.weight"
        case "norm": return "output_norm.weight"
        case "output": return "output.weight"
        default: break
        }
        let parts = layoutName.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "layers", let l = Int(parts[1]) else { return nil }
        let leaf: [String: String] = [
            "attention_norm": "attn_norm.weight", "ffn_norm": "ffn_norm.weight",
            "attention.wq": "attn_q.weight", "attention.wk": "attn_k.weight", "attention.wv": "attn_v.weight",
            "attention.wo": "attn_output.weight", "attention.bq": "attn_q.bias", "attention.bk": "attn_k.bias",
            "attention.bv": "attn_v.bias", "feed_forward.w_gate": "ffn_gate.weight",
            "feed_forward.w_up": "ffn_up.weight", "feed_forward.w_down": "ffn_down.weight",
        ]
        return leaf[parts[2]].map { "blk.\(l).\($0)" }
    }

    /// The tensors of a llama.cpp GGUF file for this model, as `GGUFWriter` takes them.
    /// Architecture `llama` (`config.ggufArchitecture`) stores Q and K rows (and their
    /// biases) permuted into ggml's interleaved-RoPE order, as llama.cpp's converter does;
    /// `qwen2` stores them as they are. Matrices get `type` (F32, F16 or Q8_0; a Q8_0 matrix
    /// whose rows are not a multiple of 32 falls back to F16, as llama.cpp's converter
    /// does), 1-D tensors stay F32, and `rope_freqs.weight` (F32) carries the per-frequency
    /// RoPE factors when the config has them. The fill closures read `params` when the
    /// writer calls them, so the model must stay alive and unchanged until then.
    public func ggufTensors(type: GGUFTensorType) -> [GGUFWriter.Tensor] {
        let c = config
        let permuted = c.ggufArchitecture == "llama"
        var out: [GGUFWriter.Tensor] = []
        if let r = c.ropeScaling {
            let f = r.factors
            out.append(GGUFWriter.Tensor(name: "rope_freqs.weight", dims: [f.count], type: .f32) { p in
                for (i, v) in f.enumerated() { p[i] = v }
            })
        }
        for t in layout.tensors {
            guard let name = Model.ggufName(t.name) else { continue }
            let src = params + t.offset, n = t.count
            let rows = t.shape[0], cols = t.shape.count == 2 ? t.shape[1] : 1
            var heads = 0
            if permuted {
                if t.name.hasSuffix(".wq") || t.name.hasSuffix(".bq") { heads = c.nHeads }
                if t.name.hasSuffix(".wk") || t.name.hasSuffix(".bk") { heads = c.nKVHeads }
            }
            var ty = GGUFTensorType.f32
            if t.shape.count == 2 {
                ty = type == .q8_0 && cols % 32 != 0 ? .f16 : type
            }
            out.append(GGUFWriter.Tensor(name: name, dims: t.shape.reversed(), type: ty) { [heads] p in
                p.update(from: src, count: n)
                if heads > 0 { Model.permuteRoPERows(p, rows: rows, cols: cols, heads: heads) }
            })
        }
        return out
    }

    /// The inverse of `unpermuteRoPERows`: rotate-half row s·hd/2 + i of each head becomes
    /// stored row 2i + s (llama.cpp's `LlamaModel.permute`).
    static func permuteRoPERows(_ w: UnsafeMutablePointer<Float>, rows: Int, cols: Int, heads: Int) {
        let hd = rows / heads, half = hd / 2
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: hd * cols)
        defer { tmp.deallocate() }
        for h in 0..<heads {
            let base = w + h * hd * cols
            tmp.update(from: base, count: hd * cols)
            for i in 0..<half {
                for s in 0..<2 {
                    (base + (2 * i + s) * cols).update(from: tmp + (s * half + i) * cols, count: cols)
                }
            }
        }
    }
}
