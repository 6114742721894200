/// Llama-architecture models from GGUF files (llama.cpp's layout): the config from the
/// metadata, the weights dequantised into a `Model`'s parameters.
extension ModelConfig {
    /// The config a GGUF file of architecture `llama` describes. `maxSeq` caps the context
    /// (default: the file's `llama.context_length`, at most 65536). Throws `.notSupported`
    /// for other architectures or for what the model code cannot run (a head dim that is not
    /// d_model / n_heads, partial RoPE), `.badData` for missing or impossible metadata.
    public init(gguf g: GGUFFile, maxSeq: Int? = nil) throws {
        let arch = g.metadata["general.architecture"]?.string ?? "(none)"
        guard arch == "llama" else {
            throw IBTPOError(.notSupported, "\(g.path): architecture '\(arch)' is not supported (llama is)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = g.metadata["llama." + key]?.int else {
                throw IBTPOError(.badData, "\(g.path): metadata llama.\(key) is missing or not an integer")
            }
            return v
        }
        func float(_ key: String, _ fallback: Double) throws -> Float {
            guard let v = g.metadata["llama." + key] else { return Float(fallback) }
            guard let d = v.double else { throw IBTPOError(.badData, "\(g.path): metadata llama.\(key) is not a number") }
            return Float(d)
        }
        guard let emb = g.tensor("token_embd.weight"), emb.dims.count == 2 else {
            throw IBTPOError(.badData, "\(g.path): tensor token_embd.weight is missing or not 2-D")
        }
        let d = try int("embedding_length"), heads = try int("attention.head_count")
        let kv = g.metadata["llama.attention.head_count_kv"]?.int ?? heads
        let vocab = g.metadata["llama.vocab_size"]?.int ?? emb.dims[1]
        let ctx = try int("context_length")
        self.init(vocab: vocab, dModel: d, nLayers: try int("block_count"), nHeads: heads, nKVHeads: kv,
                  dFF: try int("feed_forward_length"), maxSeq: min(maxSeq ?? ctx, ctx, 1 << 16),
                  ropeTheta: try float("rope.freq_base", 10000),
                  normEps: try float("attention.layer_norm_rms_epsilon", 1e-5),
                  tieEmbeddings: g.tensor("output.weight") == nil)
        guard heads > 0, d % heads == 0 else { throw IBTPOError(.badData, "\(g.path): d_model \(d) is not a multiple of \(heads) heads") }
        for key in ["attention.key_length", "attention.value_length", "rope.dimension_count"] {
            if let v = g.metadata["llama." + key]?.int, v != headDim {
                throw IBTPOError(.notSupported, "\(g.path): llama.\(key) = \(v), but libibtpo's attention needs "
                    + "d_model / n_heads = \(headDim)")
            }
        }
        if g.metadata["llama.rope.scaling.type"] != nil || g.tensor("rope_freqs.weight") != nil {
            throw IBTPOError(.notSupported, "\(g.path): RoPE scaling is not supported yet")
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
    /// `ModelConfig(gguf:)`). Q and K rows are put back from llama.cpp's interleaved-RoPE
    /// order into the rotate-half order libibtpo (and Hugging Face) use. Nothing is changed
    /// when a check fails.
    public func loadWeights(from g: GGUFFile) throws {
        let c = config, L = layout
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
            try need(p + "attn_q.weight", [c.dModel, c.dModel], w.wq, heads: c.nHeads)
            try need(p + "attn_k.weight", [c.dModel, c.kvDim], w.wk, heads: c.nKVHeads)
            try need(p + "attn_v.weight", [c.dModel, c.kvDim], w.wv)
            try need(p + "attn_output.weight", [c.dModel, c.dModel], w.wo)
            try need(p + "ffn_norm.weight", [c.dModel], w.mlpNorm)
            try need(p + "ffn_gate.weight", [c.dModel, c.dFF], w.wGate)
            try need(p + "ffn_up.weight", [c.dModel, c.dFF], w.wUp)
            try need(p + "ffn_down.weight", [c.dFF, c.dModel], w.wDown)
        }
        try need("output_norm.weight", [c.dModel], L.finalNorm)
        if !c.tieEmbeddings { try need("output.weight", [c.dModel, c.vocab], L.lmHead) }
        for (t, off, dims, heads) in plan {
            let dst = UnsafeMutableBufferPointer(start: params + off, count: t.elementCount)
            try g.dequantize(t, into: dst)
            if heads > 0 { Self.unpermuteRoPERows(dst.baseAddress!, rows: dims[1], cols: dims[0], heads: heads) }
        }
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
