/// The config as other tools' files spell it: Hugging Face's config.json and llama.cpp's
/// GGUF metadata.
extension ModelConfig {
    /// The GGUF architecture (and Hugging Face family) of this config: `qwen2` when the q/k/v
    /// projections have biases (Qwen2 always has them; a Llama config with
    /// `attention_bias` would also bias o_proj, which libibtpo's model has not), else `llama`.
    public var ggufArchitecture: String { attentionBias ? "qwen2" : "llama" }

    /// config.json for transformers' LlamaForCausalLM (model_type "llama") or
    /// Qwen2ForCausalLM ("qwen2"): every size, head_dim, rope_theta, rms_norm_eps,
    /// tie_word_embeddings, the special token ids given, torch_dtype, and rope_scaling
    /// {"rope_type": "llama3", ...} when the RoPE factors are Llama 3.1's (`llama3Scaling`).
    /// Throws `.notSupported` when RoPE factors are set that no Hugging Face rope_scaling
    /// type describes.
    public func huggingFaceConfig(torchDtype: String, bos: Int32?, eos: Int32?, pad: Int32?) throws -> JSONDoc {
        let qwen = ggufArchitecture == "qwen2"
        var m: [(String, JSONDoc)] = [
            ("architectures", .array([.string(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM")])),
            ("model_type", .string(qwen ? "qwen2" : "llama")),
            ("vocab_size", .int(vocab)),
            ("hidden_size", .int(dModel)),
            ("intermediate_size", .int(dFF)),
            ("num_hidden_layers", .int(nLayers)),
            ("num_attention_heads", .int(nHeads)),
            ("num_key_value_heads", .int(nKVHeads)),
            ("head_dim", .int(headDim)),
            ("hidden_act", .string("silu")),
            ("max_position_embeddings", .int(maxSeq)),
            ("rms_norm_eps", .float(normEps)),
            ("rope_theta", .float(ropeTheta)),
            ("rope_scaling", try huggingFaceRopeScaling()),
            ("tie_word_embeddings", .bool(tieEmbeddings)),
            ("attention_dropout", .double(0)),
            ("initializer_range", .double(0.02)),
            ("use_cache", .bool(true)),
        ]
        if qwen {
            m += [("use_sliding_window", .bool(false)), ("sliding_window", .null), ("max_window_layers", .int(nLayers))]
        } else {
            m += [("attention_bias", .bool(false)), ("mlp_bias", .bool(false)), ("pretraining_tp", .int(1))]
        }
        for (k, v) in [("bos_token_id", bos), ("eos_token_id", eos), ("pad_token_id", pad)] {
            if let v { m.append((k, .int(Int(v)))) }
        }
        m.append(("torch_dtype", .string(torchDtype)))
        return .object(m)
    }

    /// `rope_scaling` for config.json: null without scaling, the llama3 parameters when
    /// they are known or can be recovered from the factors, else `.notSupported`.
    func huggingFaceRopeScaling() throws -> JSONDoc {
        guard let r = ropeScaling else { return .null }
        guard let p = llama3Scaling else {
            throw IBTPOError(.notSupported, "the model's RoPE scaling is known only as \(r.factors.count) per-frequency "
                + "factors (a GGUF rope_freqs tensor) that are not Llama 3.1's llama3 scheme with any usual parameters; "
                + "config.json cannot express them (export to GGUF keeps them)")
        }
        return .object([("rope_type", .string("llama3")), ("factor", .double(p.factor)),
                        ("low_freq_factor", .double(p.lowFreqFactor)), ("high_freq_factor", .double(p.highFreqFactor)),
                        ("original_max_position_embeddings", .int(p.originalMaxPositions))])
    }

    /// The llama3 parameters of `ropeScaling`: those it carries, or — for factors read from
    /// a GGUF file, which keeps only the factors — the parameters of Llama 3.1 / 3.2
    /// (low_freq_factor 1, high_freq_factor 4, original context 8192, factor = the largest
    /// factor) when they reproduce every factor within 1e-5 relative. Nil otherwise.
    public var llama3Scaling: RopeScaling.Llama3? {
        guard let r = ropeScaling else { return nil }
        if let p = r.llama3 { return p }
        guard let top = r.factors.max(), top >= 1 else { return nil }
        let guess = RopeScaling.Llama3(factor: Double(top), lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192)
        guard let s = try? RopeScaling.llama3(guess, headDim: headDim, theta: Double(ropeTheta)),
              s.factors.count == r.factors.count,
              zip(s.factors, r.factors).allSatisfy({ abs($0 - $1) <= 1e-5 * max(abs($0), abs($1)) }) else { return nil }
        return guess
    }

    /// The `<arch>.*` and `general.*` metadata llama.cpp needs to load a model of this
    /// config (types as llama.cpp's converter writes them: sizes UINT32, floats FLOAT32).
    /// `fileType` is llama.cpp's `general.file_type` (0 all F32, 1 mostly F16, 7 mostly Q8_0).
    public func ggufMetadata(name: String, fileType: UInt32) -> [(key: String, value: GGUFMetadataValue)] {
        let a = ggufArchitecture
        func u(_ v: Int) -> GGUFMetadataValue { .uint32(UInt32(clamping: v)) }
        return [
            ("general.architecture", .string(a)),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
            ("general.file_type", .uint32(fileType)),
            ("general.quantization_version", .uint32(2)),
            ("\(a).context_length", u(maxSeq)),
            ("\(a).embedding_length", u(dModel)),
            ("\(a).block_count", u(nLayers)),
            ("\(a).feed_forward_length", u(dFF)),
            ("\(a).attention.head_count", u(nHeads)),
            ("\(a).attention.head_count_kv", u(nKVHeads)),
            ("\(a).attention.key_length", u(headDim)),
            ("\(a).attention.value_length", u(headDim)),
            ("\(a).rope.dimension_count", u(headDim)),
            ("\(a).rope.freq_base", .float32(ropeTheta)),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(normEps)),
            ("\(a).vocab_size", u(vocab)),
        ]
    }
}

extension GGUFTensorType {
    /// llama.cpp's `general.file_type` (LlamaFileType) for a file whose matrices are `self`.
    public var ggufFileType: UInt32? {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q8_0: return 7
        case .bf16: return 32
        default: return nil
        }
    }
}
