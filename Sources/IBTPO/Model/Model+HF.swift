/// Llama-family models from Hugging Face directories (`LlamaForCausalLM`, `Qwen2ForCausalLM`):
/// the config from config.json, the weights from safetensors. Hugging Face's nn.Linear
/// weights are (out × in) row-major and its RoPE is rotate-half, exactly libibtpo's layout, so
/// the weights are converted to float32 and copied with no permutation.
extension ModelConfig {
    /// The `architectures` entries read, and their `model_type`.
    public static let hfArchitectures: [(architecture: String, modelType: String)] =
        [("LlamaForCausalLM", "llama"), ("Qwen2ForCausalLM", "qwen2")]

    /// The config of the model in `dir` (see `init(hfConfig:source:maxSeq:)`).
    public init(hf dir: HFDirectory, maxSeq: Int? = nil) throws {
        try self.init(hfConfig: dir.config, source: dir.file("config.json"), maxSeq: maxSeq)
    }

    /// The config that a Hugging Face config.json describes, for model_type `llama` and
    /// `qwen2`. `maxSeq` caps the context (default: max_position_embeddings, at most 65536).
    /// Reads hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
    /// intermediate_size, vocab_size, max_position_embeddings, rope_theta, rms_norm_eps,
    /// tie_word_embeddings, head_dim, attention_bias (Qwen2 always has q/k/v biases) and
    /// rope_scaling (transformers 4) or rope_parameters (transformers 5): none, "default" or
    /// "llama3". Throws `.notSupported`, naming `source` and the field, for other
    /// architectures, activations, rope types, MLP biases, an active sliding window, partial
    /// rotary embeddings, quantised checkpoints, or sizes the engine does not run; `.badData`
    /// for missing or mistyped fields.
    public init(hfConfig c: JSONValue, source: String = "config.json", maxSeq: Int? = nil) throws {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badData, "\(source): \(m)") }
        func unsupported(_ m: String) -> IBTPOError { IBTPOError(.notSupported, "\(source): \(m)") }
        func field(_ key: String) -> JSONValue? {
            guard let v = c[key], !v.isNull else { return nil }
            return v
        }
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
            guard let v = field(key) else {
                if let f = fallback { return f }
                throw bad("\(key) is missing")
            }
            guard let i = v.int else { throw bad("\(key) is \(v.typeName == "number" ? "not a whole number" : "a " + v.typeName)") }
            return i
        }
        func number(_ v: JSONValue?, _ key: String, _ fallback: Double? = nil) throws -> Double {
            guard let v, !v.isNull else {
                if let f = fallback { return f }
                throw bad("\(key) is missing")
            }
            guard let d = v.number else { throw bad("\(key) is a \(v.typeName), not a number") }
            return d
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            guard let v = field(key) else { return fallback }
            guard let b = v.bool else { throw bad("\(key) is a \(v.typeName), not true or false") }
            return b
        }
        guard c.object != nil else { throw bad("the config is a \(c.typeName), not an object") }

        // The architecture: model_type and architectures must name one we read, and agree.
        let known = ModelConfig.hfArchitectures
        let knownText = known.map { "\($0.architecture) (\($0.modelType))" }.joined(separator: ", ")
        var modelType = field("model_type")?.string
        if let archs = field("architectures") {
            guard let list = archs.array?.compactMap(\.string), list.count == archs.array?.count, !list.isEmpty else {
                throw bad("architectures is not a list of names")
            }
            for a in list {
                guard let k = known.first(where: { $0.architecture == a }) else {
                    throw unsupported("architecture '\(a)' is not supported (\(knownText) are)")
                }
                if let mt = modelType, mt != k.modelType {
                    throw bad("architecture \(a) does not match model_type '\(mt)'")
                }
                modelType = k.modelType
            }
        }
        guard let type = modelType else { throw bad("model_type and architectures are missing") }
        guard known.contains(where: { $0.modelType == type }) else {
            throw unsupported("model_type '\(type)' is not supported (\(knownText) are)")
        }
        let qwen2 = type == "qwen2"

        // What the engine cannot run.
        if field("quantization_config") != nil {
            throw unsupported("quantised checkpoints (quantization_config) are not supported; use F32, F16 or BF16 weights")
        }
        let act = field("hidden_act")?.string ?? (field("hidden_act") == nil ? "silu" : "(not a string)")
        guard act == "silu" || act == "swish" else {
            throw unsupported("hidden_act '\(act)' is not supported (the SwiGLU MLP needs silu)")
        }
        if try bool("mlp_bias", false) { throw unsupported("mlp_bias = true is not supported (the MLP has no biases)") }
        if let f = field("partial_rotary_factor") {
            guard try number(f, "partial_rotary_factor") == 1 else {
                throw unsupported("partial_rotary_factor \(f.number ?? .nan) is not supported (RoPE covers the whole head)")
            }
        }
        if qwen2, try bool("use_sliding_window", false) {
            throw unsupported("use_sliding_window = true is not supported (attention is full causal)")
        }

        let d = try int("hidden_size"), heads = try int("num_attention_heads")
        guard heads >= 1 && heads <= d else { throw bad("num_attention_heads = \(heads) is out of range for hidden_size \(d)") }
        let headDim = try int("head_dim", d / heads)
        let ctx = try int("max_position_embeddings", qwen2 ? 32768 : 2048)
        guard ctx >= 1 else { throw bad("max_position_embeddings = \(ctx) must be at least 1") }

        // RoPE: transformers 5 keeps theta and the scaling in rope_parameters, 4 in
        // rope_theta and rope_scaling.
        let ropeParams = field("rope_parameters")
        if let r = ropeParams, r.object == nil { throw bad("rope_parameters is a \(r.typeName), not an object") }
        let theta = try number(field("rope_theta") ?? ropeParams?["rope_theta"], "rope_theta", 10000)
        self.init(vocab: try int("vocab_size"), dModel: d, nLayers: try int("num_hidden_layers"), nHeads: heads,
                  nKVHeads: try int("num_key_value_heads", heads), dFF: try int("intermediate_size"),
                  maxSeq: max(1, min(maxSeq ?? ctx, ctx, 1 << 16)), ropeTheta: Float(theta),
                  normEps: Float(try number(field("rms_norm_eps"), "rms_norm_eps", 1e-6)),
                  tieEmbeddings: try bool("tie_word_embeddings", false), headDim: headDim,
                  attentionBias: qwen2 ? true : try bool("attention_bias", false))
        do { try validate() } catch let e as IBTPOError { throw unsupported(e.message) }
        // The scaling is computed once head_dim is known to be in range.
        if let r = field("rope_scaling") ?? ropeParams {
            guard r.object != nil else { throw bad("rope_scaling is a \(r.typeName), not an object or null") }
            let kind = r["rope_type"]?.string ?? r["type"]?.string ?? "default"
            switch kind {
            case "default":
                break
            case "llama3":
                guard let om = r["original_max_position_embeddings"]?.int else {
                    throw bad("rope_scaling llama3: original_max_position_embeddings is missing or not a whole number")
                }
                let p = RopeScaling.Llama3(
                    factor: try number(r["factor"], "rope_scaling.factor"),
                    lowFreqFactor: try number(r["low_freq_factor"], "rope_scaling.low_freq_factor"),
                    highFreqFactor: try number(r["high_freq_factor"], "rope_scaling.high_freq_factor"),
                    originalMaxPositions: om)
                do { ropeScaling = try RopeScaling.llama3(p, headDim: headDim, theta: theta) } catch let e as IBTPOError {
                    throw bad(e.message)
                }
            default:
                throw unsupported("rope scaling type '\(kind)' is not supported (none, default and llama3 are)")
            }
        }
        do { try validate() } catch let e as IBTPOError { throw unsupported(e.message) }
    }
}

extension Model {
    /// Copies the weights of the Hugging Face model in `dir` into `params` (see
    /// `loadWeights(from: SafeTensorsSet)`).
    public func loadWeights(fromHF dir: HFDirectory) throws { try loadWeights(from: dir.weights) }

    /// Copies every weight of `w` into `params`, converted to float32, after checking that each
    /// tensor Hugging Face's Llama / Qwen2 modules name is present with this config's shape and
    /// a float dtype, and that the set holds nothing else (a rotary `inv_freq` buffer, and
    /// `lm_head.weight` of a tied model, are ignored as transformers ignores them). Throws
    /// `.badData` naming the file and the tensor, `.notSupported` for a non-float dtype or a
    /// tensor the model has no place for; nothing is changed when a check fails.
    public func loadWeights(from w: SafeTensorsSet) throws {
        for (f, t, off) in try Model.hfPlan(config, layout, w) {
            try f.read(t, into: UnsafeMutableBufferPointer(start: params + off, count: t.elementCount))
        }
    }

    /// Checks every tensor `c` needs against `w`'s headers (present, shape as the config says,
    /// a float dtype, nothing extra) without allocating anything, so a config.json that declares
    /// a model far larger than its safetensors is refused before an arena is sized from it.
    /// Throws as `loadWeights(from:)` does.
    public static func checkTensors(_ c: ModelConfig, in w: SafeTensorsSet) throws {
        _ = try hfPlan(c, ParamLayout(c), w)
    }

    /// What `loadWeights(from: SafeTensorsSet)` copies: (file, tensor, offset in the
    /// parameters), after checking presence, shape and dtype of each and that nothing is left.
    static func hfPlan(_ c: ModelConfig, _ L: ParamLayout, _ w: SafeTensorsSet) throws
        -> [(SafeTensorsFile, SafeTensorsFile.Tensor, Int)] {
        var plan: [(SafeTensorsFile, SafeTensorsFile.Tensor, Int)] = []
        var wanted = Set<String>()
        func need(_ name: String, _ shape: [Int], _ off: Int) throws {
            guard let (f, t) = w.tensor(name) else { throw IBTPOError(.badData, "\(w.source): tensor \(name) is missing") }
            guard t.shape == shape else {
                throw IBTPOError(.badData, "\(f.path): tensor \(name) is \(t.shape), the config needs \(shape)")
            }
            guard t.dtype.isReadable else {
                throw IBTPOError(.notSupported, "\(f.path): tensor \(name) has dtype \(t.dtype.rawValue); libibtpo reads "
                    + "F32, F16, BF16 and F64 weights")
            }
            plan.append((f, t, off))
            wanted.insert(name)
        }
        try need("model.embed_tokens.weight", [c.vocab, c.dModel], L.tokEmb)
        for (l, x) in L.layers.enumerated() {
            let p = "model.layers.\(l)."
            try need(p + "input_layernorm.weight", [c.dModel], x.attnNorm)
            try need(p + "self_attn.q_proj.weight", [c.qDim, c.dModel], x.wq)
            try need(p + "self_attn.k_proj.weight", [c.kvDim, c.dModel], x.wk)
            try need(p + "self_attn.v_proj.weight", [c.kvDim, c.dModel], x.wv)
            if c.attentionBias {
                try need(p + "self_attn.q_proj.bias", [c.qDim], x.bq)
                try need(p + "self_attn.k_proj.bias", [c.kvDim], x.bk)
                try need(p + "self_attn.v_proj.bias", [c.kvDim], x.bv)
            }
            try need(p + "self_attn.o_proj.weight", [c.dModel, c.qDim], x.wo)
            try need(p + "post_attention_layernorm.weight", [c.dModel], x.mlpNorm)
            try need(p + "mlp.gate_proj.weight", [c.dFF, c.dModel], x.wGate)
            try need(p + "mlp.up_proj.weight", [c.dFF, c.dModel], x.wUp)
            try need(p + "mlp.down_proj.weight", [c.dModel, c.dFF], x.wDown)
        }
        try need("model.norm.weight", [c.dModel], L.finalNorm)
        if !c.tieEmbeddings { try need("lm_head.weight", [c.vocab, c.dModel], L.lmHead) }
        let extra = w.names.filter { n in
            !wanted.contains(n) && !n.hasSuffix(".rotary_emb.inv_freq") && !(c.tieEmbeddings && n == "lm_head.weight")
        }
        if let first = extra.first {
            throw IBTPOError(.notSupported, "\(w.source): tensor \(first) has no place in this model "
                + "(\(c.nLayers) layers\(c.attentionBias ? ", q/k/v biases" : "")\(c.tieEmbeddings ? ", tied head" : ""))" + (extra.count > 1 ? " (and \(extra.count - 1) more)" : ""))
        }
        return plan
    }
}
