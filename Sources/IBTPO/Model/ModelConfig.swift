/// Hyper-parameters of the Llama-style decoder. All sizes are element counts.
///
/// The fields beyond the original nine (`headDim` other than d_model / n_heads,
/// `attentionBias`, `ropeScaling`) are what pretrained Llama 3 / Qwen2 checkpoints need;
/// the models libibtpo initialises itself leave them at their defaults.
public struct ModelConfig: Equatable, Sendable {
    public var vocab: Int
    public var dModel: Int
    public var nLayers: Int
    public var nHeads: Int
    public var nKVHeads: Int
    public var dFF: Int
    public var maxSeq: Int
    public var ropeTheta: Float
    public var normEps: Float
    public var tieEmbeddings: Bool
    /// Size of one attention head (q, k and v alike). Defaults to d_model / n_heads.
    public var headDim: Int
    /// Whether the q, k and v projections carry a bias (Qwen2).
    public var attentionBias: Bool
    /// Per-frequency RoPE scaling (Llama 3.1's "llama3" type); nil = plain RoPE.
    public var ropeScaling: RopeScaling?

    public init(vocab: Int = 259, dModel: Int = 128, nLayers: Int = 4, nHeads: Int = 4, nKVHeads: Int = 4,
                dFF: Int = 384, maxSeq: Int = 128, ropeTheta: Float = 10000, normEps: Float = 1e-5,
                tieEmbeddings: Bool = true, headDim: Int? = nil, attentionBias: Bool = false,
                ropeScaling: RopeScaling? = nil) {
        self.vocab = vocab; self.dModel = dModel; self.nLayers = nLayers; self.nHeads = nHeads
        self.nKVHeads = nKVHeads; self.dFF = dFF; self.maxSeq = maxSeq; self.ropeTheta = ropeTheta
        self.normEps = normEps; self.tieEmbeddings = tieEmbeddings
        self.headDim = headDim ?? dModel / max(1, nHeads)
        self.attentionBias = attentionBias; self.ropeScaling = ropeScaling
    }

    /// The benchmark "tiny" model (~0.9M parameters).
    public static let tiny = ModelConfig()
    /// The benchmark "small" model (~5M parameters).
    public static let small = ModelConfig(dModel: 256, nLayers: 6, nHeads: 8, nKVHeads: 8, dFF: 768, maxSeq: 256)

    /// Width of all query heads together (n_heads · head_dim; the attention output's width).
    public var qDim: Int { nHeads * headDim }
    public var kvDim: Int { nKVHeads * headDim }
    /// Whether the config has any field beyond the original nine (checkpoint format 3).
    public var isExtended: Bool { headDim != dModel / max(1, nHeads) || attentionBias || ropeScaling != nil }

    /// Throws `.invalidArgument` naming the first field that is out of range.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw invalid("model config: \(msg)") } }
        try need(vocab >= 2 && vocab <= 1 << 20, "vocab must be in 2...1048576 (got \(vocab))")
        try need(dModel >= 2 && dModel <= 1 << 14, "d_model must be in 2...16384 (got \(dModel))")
        try need(nLayers >= 1 && nLayers <= 256, "n_layers must be in 1...256 (got \(nLayers))")
        try need(nHeads >= 1 && nHeads <= dModel, "n_heads must be in 1...d_model (got \(nHeads))")
        try need(headDim >= 2 && headDim <= 1024, "head dim (head_dim, d_model / n_heads unless given) must be in 2...1024 (got \(headDim))")
        try need(headDim % 2 == 0, "head dim (head_dim = \(headDim)) must be even for RoPE")
        try need(qDim <= 1 << 15, "n_heads · head_dim (\(qDim)) must be at most 32768")
        try need(nKVHeads >= 1 && nKVHeads <= nHeads && nHeads % nKVHeads == 0,
                 "n_kv_heads (\(nKVHeads)) must divide n_heads (\(nHeads))")
        try need(dFF >= 1 && dFF <= 1 << 16, "d_ff must be in 1...65536 (got \(dFF))")
        try need(maxSeq >= 1 && maxSeq <= 1 << 16, "max_seq must be in 1...65536 (got \(maxSeq))")
        try need(ropeTheta.isFinite && ropeTheta > 1, "rope_theta must be finite and > 1 (got \(ropeTheta))")
        try need(normEps.isFinite && normEps > 0 && normEps < 1, "norm_eps must be in (0, 1) (got \(normEps))")
        if let r = ropeScaling { try r.validate(headDim: headDim) }
    }
}

/// Where each parameter tensor lives in the flat parameter vector (and, at the same
/// offsets, in the gradient and AdamW moment vectors). Weights are (out × in) row-major.
public struct ParamLayout: Sendable {
    public struct Tensor: Sendable {
        public var name: String
        public var offset: Int
        public var shape: [Int]
        public var count: Int
        /// Weight decay applies to matrices, not to norm gains or embeddings.
        public var decay: Bool
    }
    public struct Layer: Sendable {
        public var attnNorm = 0, wq = 0, wk = 0, wv = 0, wo = 0, mlpNorm = 0, wGate = 0, wUp = 0, wDown = 0
        /// Offsets of the q, k, v biases; -1 when the config has none.
        public var bq = -1, bk = -1, bv = -1
    }

    public private(set) var tensors: [Tensor] = []
    public private(set) var count = 0
    public private(set) var tokEmb = 0
    public private(set) var layers: [Layer] = []
    public private(set) var finalNorm = 0
    public private(set) var lmHead = 0

    public init(_ c: ModelConfig) {
        func add(_ name: String, _ shape: [Int], decay: Bool) -> Int {
            let n = shape.reduce(1, *)
            let off = count
            tensors.append(Tensor(name: name, offset: off, shape: shape, count: n, decay: decay))
            count += (n + 15) & ~15   // keep every tensor 64-byte aligned
            return off
        }
        tokEmb = add("tok_embeddings", [c.vocab, c.dModel], decay: false)
        for l in 0..<c.nLayers {
            var L = Layer()
            L.attnNorm = add("layers.\(l).attention_norm", [c.dModel], decay: false)
            L.wq = add("layers.\(l).attention.wq", [c.qDim, c.dModel], decay: true)
            L.wk = add("layers.\(l).attention.wk", [c.kvDim, c.dModel], decay: true)
            L.wv = add("layers.\(l).attention.wv", [c.kvDim, c.dModel], decay: true)
            if c.attentionBias {
                L.bq = add("layers.\(l).attention.bq", [c.qDim], decay: false)
                L.bk = add("layers.\(l).attention.bk", [c.kvDim], decay: false)
                L.bv = add("layers.\(l).attention.bv", [c.kvDim], decay: false)
            }
            L.wo = add("layers.\(l).attention.wo", [c.dModel, c.qDim], decay: true)
            L.mlpNorm = add("layers.\(l).ffn_norm", [c.dModel], decay: false)
            L.wGate = add("layers.\(l).feed_forward.w_gate", [c.dFF, c.dModel], decay: true)
            L.wUp = add("layers.\(l).feed_forward.w_up", [c.dFF, c.dModel], decay: true)
            L.wDown = add("layers.\(l).feed_forward.w_down", [c.dModel, c.dFF], decay: true)
            layers.append(L)
        }
        finalNorm = add("norm", [c.dModel], decay: false)
        lmHead = c.tieEmbeddings ? tokEmb : add("output", [c.vocab, c.dModel], decay: true)
    }

    /// Number of trainable scalars (without alignment padding).
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
