/// Llama-architecture models from GGUF files (llama.cpp's layout): the config from the
/// metadata, the weights dequantised into a `Model`'s parameters.
extension ModelConfig {
    /// The architectures `ModelConfig(gguf:)` reads (their metadata key prefix).
    public static let ggufArchitectures = ["llama", "qwen2"]

    /// The config a GGUF file of architecture `llama` or `qwen2` describes. `maxSeq` caps the
    /// context (default: the file's `<arch>.context_length`, at most 65536). head_dim comes
    /// from `attention.key_length` when present; Qwen2 has q/k/v biases; a `rope_freqs.weight`
    /// tensor (Llama 3.1's RoPE scaling, as llama.cpp's converter writes it) becomes
    /// `ropeScaling`. Throws `.notSupported` for other architectures or what the model code
    /// cannot run (partial RoPE, value heads of another size), `.badData` for missing or
    /// impossible metadata, naming the file and the key.
    public init(gguf g: GGUFFile, maxSeq: Int? = nil) throws {
        let arch = g.metadata["general.architecture"]?.string ?? "(none)"
        guard ModelConfig.ggufArchitectures.contains(arch) else {
            throw IBTPOError(.notSupported, "\(g.path): architecture '\(arch)' is not supported "
                + "(\(ModelConfig.ggufArchitectures.joined(separator: ", ")) are)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = g.metadata[arch + "." + key]?.int else {
                throw IBTPOError(.badData, "\(g.path): metadata \(arch).\(key) is missing or not an integer")
            }
            return v
        }
        func float(_ key: String, _ fallback: Double) throws -> Float {
            guard let v = g.metadata[arch + "." + key] else { return Float(fallback) }
            guard let d = v.double else { throw IBTPOError(.badData, "\(g.path): metadata \(arch).\(key) is not a number") }
            return Float(d)
        }
        guard let emb = g.tensor("token_embd.weight"), emb.dims.count == 2 else {
            throw IBTPOError(.badData, "\(g.path): tensor token_embd.weight is missing or not 2-D")
        }
        let d = try int("embedding_length"), heads = try int("attention.head_count")
        guard heads > 0, heads <= d else { throw IBTPOError(.badData, "\(g.path): \(arch).attention.head_count = \(heads) is out of range") }
        let kv = g.metadata[arch + ".attention.head_count_kv"]?.int ?? heads
        let vocab = g.metadata[arch + ".vocab_size"]?.int ?? emb.dims[1]
        let ctx = try int("context_length")
        let hd = g.metadata[arch + ".attention.key_length"]?.int ?? d / heads
        self.init(vocab: vocab, dModel: d, nLayers: try int("block_count"), nHeads: heads, nKVHeads: kv,
                  dFF: try int("feed_forward_length"), maxSeq: max(1, min(maxSeq ?? ctx, ctx, 1 << 16)),
                  ropeTheta: try float("rope.freq_base", 10000),
                  normEps: try float("attention.layer_norm_rms_epsilon", 1e-5),
                  tieEmbeddings: g.tensor("output.weight") == nil, headDim: hd,
                  attentionBias: g.tensor("blk.0.attn_q.bias") != nil)
        for key in ["attention.value_length", "rope.dimension_count"] {
            if let v = g.metadata[arch + "." + key]?.int, v != headDim {
                throw IBTPOError(.notSupported, "\(g.path): \(arch).\(key) = \(v), but libibtpo's attention needs "
                    + "it equal to head_dim = \(headDim)")
            }
        }
        if let t = g.metadata[arch + ".rope.scaling.type"]?.string, t != "none" {
            throw IBTPOError(.notSupported, "\(g.path): RoPE scaling type '\(t)' is not supported "
                + "(Llama 3.1's per-frequency factors in rope_freqs.weight are)")
        }
        if let f = g.tensor("rope_freqs.weight") {
            guard f.dims == [headDim / 2] else {
                throw IBTPOError(.badData, "\(g.path): tensor rope_freqs.weight is \(f.dims), head_dim \(headDim) needs [\(headDim / 2)]")
            }
            var factors = [Float](repeating: 0, count: headDim / 2)
            try factors.withUnsafeMutableBufferPointer { try g.dequantize(f, into: $0) }
            ropeScaling = RopeScaling(factors: factors)
        }
        guard emb.dims == [d, vocab] else {
            throw IBTPOError(.badData, "\(g.path): token_embd.weight is \(emb.dims), expected [\(d), \(vocab)]")
        }
        do { try validate() } catch let e as IBTPOError { throw IBTPOError(.notSupported, "\(g.path): \(e.message)") }
    }
}

extension Model {
    /// Copies every weight of `g` into `params`, dequantised to float32, after checking each
    /// tensor's presence and shape against this model's config (which should come from
    /// `ModelConfig(gguf:)`). For architecture `llama`, Q and K rows are put back from
    /// llama.cpp's interleaved-RoPE order into the rotate-half order libibtpo (and Hugging
    /// Face) use; `qwen2` files are stored unpermuted. Nothing is changed when a check fails.
    public func loadWeights(from g: GGUFFile) throws {
        let plan = try Model.ggufPlan(config, layout, g)
        for (t, off, dims, heads) in plan {
            let dst = UnsafeMutableBufferPointer(start: params + off, count: t.elementCount)
            try g.dequantize(t, into: dst)
            if heads > 0, let base = dst.baseAddress {
                let rows = dims.count == 2 ? dims[1] : dims[0], cols = dims.count == 2 ? dims[0] : 1
                Self.unpermuteRoPERows(base, rows: rows, cols: cols, heads: heads)
            }
        }
    }

    /// Checks every tensor `c` needs against `g`'s directory (present, shape as the config
    /// says) without allocating anything, so a file whose metadata declares a model far larger
    /// than its tensors is refused before an arena is sized from it. Throws `.badData`
    /// naming the file and the tensor.
    public static func checkTensors(_ c: ModelConfig, in g: GGUFFile) throws {
        _ = try ggufPlan(c, ParamLayout(c), g)
    }

    /// What `loadWeights(from:)` copies: (source tensor, offset in the parameters, dims,
    /// heads to unpermute or 0), after checking presence and shape of each.
    static func ggufPlan(_ c: ModelConfig, _ L: ParamLayout, _ g: GGUFFile) throws
        -> [(GGUFFile.Tensor, Int, [Int], heads: Int)] {
        let permuted = g.metadata["general.architecture"]?.string == "llama"
        var plan: [(GGUFFile.Tensor, Int, [Int], heads: Int)] = []   // source, offset, dims, heads to unpermute
        func need(_ name: String, _ dims: [Int], _ off: Int, heads: Int = 0) throws {
            guard let t = g.tensor(name) else { throw IBTPOError(.badData, "\(g.path): tensor \(name) is missing") }
            guard t.dims == dims else {
                throw IBTPOError(.badData, "\(g.path): tensor \(name) is \(t.dims), the config needs \(dims)")
            }
            plan.append((t, off, dims, heads))
        }
        try need("token_embd.weight", [c.dModel, c.vocab], L.tokEmb)
        for (l, w) in L.layers.enumerated() {
            let p = "blk.\(l)."
            try need(p + "attn_norm.weight", [c.dModel], w.attnNorm)
            try need(p + "attn_q.weight", [c.dModel, c.qDim], w.wq, heads: permuted ? c.nHeads : 0)
            try need(p + "attn_k.weight", [c.dModel, c.kvDim], w.wk, heads: permuted ? c.nKVHeads : 0)
            try need(p + "attn_v.weight", [c.dModel, c.kvDim], w.wv)
            if c.attentionBias {
                try need(p + "attn_q.bias", [c.qDim], w.bq, heads: permuted ? c.nHeads : 0)
                try need(p + "attn_k.bias", [c.kvDim], w.bk, heads: permuted ? c.nKVHeads : 0)
                try need(p + "attn_v.bias", [c.kvDim], w.bv)
            }
            try need(p + "attn_output.weight", [c.qDim, c.dModel], w.wo)
            try need(p + "ffn_norm.weight", [c.dModel], w.mlpNorm)
            try need(p + "ffn_gate.weight", [c.dModel, c.dFF], w.wGate)
            try need(p + "ffn_up.weight", [c.dModel, c.dFF], w.wUp)
            try need(p + "ffn_down.weight", [c.dFF, c.dModel], w.wDown)
        }
        try need("output_norm.weight", [c.dModel], L.finalNorm)
        if !c.tieEmbeddings { try need("output.weight", [c.dModel, c.vocab], L.lmHead) }
        return plan
    }

    /// llama.cpp's converter stores each head's rows as pairs (i, i + hd/2) interleaved:
    /// stored row 2i + s of a head is rotate-half row s·hd/2 + i. This puts them back.
    static func unpermuteRoPERows(_ w: UnsafeMutablePointer<Float>, rows: Int, cols: Int, heads: Int) {
        let hd = rows / heads, half = hd / 2
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: hd * cols)
        defer { tmp.deallocate() }
        for h in 0..<heads {
            let base = w + h * hd * cols
            tmp.update(from: base, count: hd * cols)
            for i in 0..<half {
                for s in 0..<2 {
                    (base + (s * half + i) * cols).update(from: tmp + (2 * i + s) * cols, count: cols)
                }
            }
        }
    }
}
