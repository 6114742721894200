import Glibc

/// Batch shape of a forward/backward pass: `batch` sequences of `seq` tokens (right-padded).
public struct TrainShape: Equatable, Sendable {
    public var batch: Int
    public var seq: Int
    public init(batch: Int, seq: Int) { self.batch = batch; self.seq = seq }
    public var tokens: Int { batch * seq }
}

/// Section indices of one transformer layer's saved activations (see `Model.reserve`),
/// looked up by name ("layer.<l>.<name>").
struct LayerActs {
    var xn1 = 0, rstd1 = 0, q = 0, k = 0, v = 0, att = 0, ao = 0, xMid = 0
    var xn2 = 0, rstd2 = 0, gate = 0, up = 0, hid = 0

    static let names = ["xn1", "rstd1", "q", "k", "v", "att", "ao", "xmid", "xn2", "rstd2", "gate", "up", "hid"]

    init(layer l: Int, plan: MemoryPlan) throws {
        func id(_ n: String) throws -> Int {
            guard let i = plan.index(of: "layer.\(l).\(n)") else {
                throw IBTPOError(.internalError, "arena: no section layer.\(l).\(n)")
            }
            return i
        }
        xn1 = try id("xn1"); rstd1 = try id("rstd1"); q = try id("q"); k = try id("k"); v = try id("v")
        att = try id("att"); ao = try id("ao"); xMid = try id("xmid"); xn2 = try id("xn2"); rstd2 = try id("rstd2")
        gate = try id("gate"); up = try id("up"); hid = try id("hid")
    }
}

/// The policy network: parameters, gradients, AdamW moments and activation buffers for a
/// fixed `TrainShape`, all living in one `Arena`. A `Model` never allocates after `init`.
///
/// Inputs of a pass are written by the caller into `tokens` and `targets` (B·T Int32 each,
/// row-major, -1 = no target) before `forward`, and the per-token loss coefficients into
/// `coef` (and optionally `entCoef`) before `backward`.
public final class Model {
    public let config: ModelConfig
    /// The capacity of every per-token buffer: at most `shape.batch` rows of `shape.seq` tokens.
    public let shape: TrainShape
    /// The shape `forward`/`backward` run on (defaults to `shape`): the first
    /// `pass.batch · pass.seq` entries of `tokens`, `targets`, `coef`, … hold `pass.batch` rows
    /// of stride `pass.seq`. Shorter passes cost proportionally less (see `setPass`).
    public private(set) var pass: TrainShape
    public let layout: ParamLayout
    public let arena: Arena
    public internal(set) var pool: ThreadPool

    // Flat vectors of `layout.count` floats.
    public let params: UnsafeMutablePointer<Float>
    public let grads: UnsafeMutablePointer<Float>
    public let adamM: UnsafeMutablePointer<Float>
    public let adamV: UnsafeMutablePointer<Float>

    // Inputs, (B·T).
    public let tokens: UnsafeMutablePointer<Int32>
    public let targets: UnsafeMutablePointer<Int32>
    public let coef: UnsafeMutablePointer<Float>
    public let entCoef: UnsafeMutablePointer<Float>

    // Outputs of forward, (B·T).
    public let logp: UnsafeMutablePointer<Float>
    public let entropy: UnsafeMutablePointer<Float>
    /// (B·T, V) logits after `forward`; overwritten with their gradient by `backward`.
    public let logits: UnsafeMutablePointer<Float>

    let ropeCos: UnsafeMutablePointer<Float>
    let ropeSin: UnsafeMutablePointer<Float>
    let res: [UnsafeMutablePointer<Float>]      // nLayers+1 residual streams (N, C)
    let acts: [LayerActs]
    let xnF: UnsafeMutablePointer<Float>, rstdF: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    // Backward scratch.
    let dRes: UnsafeMutablePointer<Float>, dXn: UnsafeMutablePointer<Float>, dAo: UnsafeMutablePointer<Float>
    let dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
    let dAtt: UnsafeMutablePointer<Float>, dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>
    let dHid: UnsafeMutablePointer<Float>
    /// Per-chunk partial sums for deterministic reductions (see `gradNorm`).
    let partials: UnsafeMutablePointer<Double>
    let gemmScratch: UnsafeMutablePointer<Float>, gemmScratchCount: Int
    static let reduceChunk = 4096
    /// Incremental decoder over these parameters, with a KV cache of `decodeSlots`
    /// sequences in this arena; nil when the model was built with `decodeSlots: 0`.
    public private(set) var decoder: Decoder?

    /// Adds this model's named sections to `plan`, then the decoder's (KV cache and decode
    /// scratch) when `decodeSlots` > 0. `init` reads them back by name.
    static func reserve(_ c: ModelConfig, _ s: TrainShape, _ plan: inout MemoryPlan, decodeSlots: Int = 0) throws {
        let P = ParamLayout(c).count
        let N = s.tokens, C = c.dModel, F = c.dFF, KV = c.kvDim, V = c.vocab, QD = c.qDim
        let att = s.batch * c.nHeads * s.seq * s.seq
        func r(_ name: String, _ group: String, _ n: Int) throws { try plan.reserve(name, group: group, count: n) }
        func ri(_ name: String, _ group: String, _ n: Int) throws { try plan.reserve(name, group: group, count: n, of: Int32.self) }
        try r("params", "params", P)
        try r("grads", "grads", P)
        try r("adam.m", "adamw", P)
        try r("adam.v", "adamw", P)
        try ri("tokens", "inputs", N); try ri("targets", "inputs", N)
        try r("coef", "inputs", N); try r("ent_coef", "inputs", N)
        try r("logp", "activations", N); try r("entropy", "activations", N)
        try r("logits", "activations", N * V)
        try r("rope.cos", "activations", c.maxSeq * c.headDim / 2)
        try r("rope.sin", "activations", c.maxSeq * c.headDim / 2)
        for l in 0...c.nLayers { try r("res.\(l)", "activations", N * C) }
        for l in 0..<c.nLayers {
            let sizes = ["xn1": N * C, "rstd1": N, "q": N * QD, "k": N * KV, "v": N * KV, "att": att, "ao": N * QD,
                         "xmid": N * C, "xn2": N * C, "rstd2": N, "gate": N * F, "up": N * F, "hid": N * F]
            for name in LayerActs.names {
                let n = sizes[name] ?? 0
                try r("layer.\(l).\(name)", "activations", n)
            }
        }
        try r("xnf", "activations", N * C); try r("rstdf", "activations", N); try r("lse", "activations", N)
        for (name, n) in [("d_res", N * C), ("d_xn", N * C), ("d_ao", N * QD), ("d_q", N * QD), ("d_k", N * KV),
                          ("d_v", N * KV), ("d_att", att), ("d_gate", N * F), ("d_up", N * F), ("d_hid", N * F)] {
            try r(name, "scratch", n)
        }
        try plan.reserve("partials", group: "scratch", count: P / reduceChunk + 2, of: Double.self)
        try r("gemm_ksplit", "scratch", gemmScratchCount(c, s))
        if decodeSlots > 0 { try Decoder.reserve(config: c, slots: decodeSlots, plan: &plan) }
    }

    /// Floats of k-split scratch the weight gradients need: (chunks − 1) × out × in for the
    /// largest weight (see `ThreadPool.kChunks`).
    static func gemmScratchCount(_ c: ModelConfig, _ s: TrainShape) -> Int {
        let N = s.tokens
        var most = 0
        for (o, i) in [(c.qDim, c.dModel), (c.dModel, c.qDim), (c.kvDim, c.dModel), (c.dFF, c.dModel), (c.dModel, c.dFF),
                       (c.vocab, c.dModel)] {
            most = max(most, (ThreadPool.kChunks(m: o, n: i, k: N) - 1) * o * i)
        }
        return most
    }

    /// Bytes a model of this config and shape needs (the whole arena), without allocating.
    public static func plan(_ c: ModelConfig, _ s: TrainShape, decodeSlots: Int = 0) throws -> MemoryPlan {
        try validate(c, s, decodeSlots: decodeSlots)
        var p = MemoryPlan()
        try reserve(c, s, &p, decodeSlots: decodeSlots)
        return p
    }

    /// Sets the shape of the next passes: `batch` rows of `seq` tokens, laid out with row
    /// stride `seq` at the start of the input buffers. Any shape whose buffers fit the
    /// arena is allowed: batch·seq ≤ shape.tokens, batch·seq² ≤ shape.batch·shape.seq²
    /// (the attention scores) and seq ≤ max_seq — so a single row may be longer than
    /// `shape.seq`. The result of a row does not depend on the pass shape (attention is
    /// causal; padding has no target).
    public func setPass(batch: Int, seq: Int) throws {
        guard batch >= 1 && seq >= 1 && seq <= config.maxSeq && batch <= shape.tokens / seq
              && batch * seq * seq <= shape.batch * shape.seq * shape.seq else {
            throw invalid("pass shape \(batch)×\(seq) does not fit the arena of \(shape.batch)×\(shape.seq) "
                + "(max_seq \(config.maxSeq))")
        }
        pass = TrainShape(batch: batch, seq: seq)
    }

    /// The most rows of `seq` tokens one pass can hold (0 if a row of `seq` does not fit).
    public func passCapacity(seq: Int) -> Int {
        guard seq >= 1 && seq <= config.maxSeq else { return 0 }
        return min(shape.tokens / seq, shape.batch * shape.seq * shape.seq / (seq * seq))
    }

    /// Replaces the worker pool with one of `threads` threads (1...64). Results do not depend
    /// on the thread count (GEMM tiling and reductions depend on shapes only).
    public func setThreads(_ threads: Int) throws {
        guard threads >= 1 && threads <= 64 else { throw invalid("threads must be in 1...64 (got \(threads))") }
        guard threads != pool.width else { return }
        let p = ThreadPool(threads: threads)
        pool = p
        decoder?.pool = p
    }

    /// Restores the full pass shape.
    public func resetPass() {
        // (written only when it changes: the exclusivity-checked write of a class property
        // was seen to allocate now and then, and the training step must not allocate)
        if pass != shape { pass = shape }
    }

    static func validate(_ c: ModelConfig, _ s: TrainShape, decodeSlots: Int = 0) throws {
        try c.validate()
        guard decodeSlots >= 0 && decodeSlots <= 1 << 16 else {
            throw invalid("decode slots must be in 0...65536 (got \(decodeSlots))")
        }
        guard s.batch >= 1 && s.batch <= 1 << 16 else { throw invalid("batch must be in 1...65536 (got \(s.batch))") }
        guard s.seq >= 1 && s.seq <= c.maxSeq else { throw invalid("seq must be in 1...max_seq=\(c.maxSeq) (got \(s.seq))") }
    }

    /// Allocates the arena and initialises parameters from `seed` (normal(0, 0.02); output
    /// projections scaled by 1/√(2·layers); norm gains 1; attention biases 0). `decodeSlots` > 0 adds a
    /// `decoder` with a KV cache for that many concurrent sequences. `initialize: false`
    /// leaves every parameter 0 (the arena is zeroed) for a caller that loads all of them
    /// next (`loadWeights(from:)`), which saves the random draws (seconds for 100M+ weights).
    public init(config: ModelConfig, shape: TrainShape, threads: Int, seed: UInt64, decodeSlots: Int = 0,
                initialize: Bool = true) throws {
        try Model.validate(config, shape, decodeSlots: decodeSlots)
        var plan = MemoryPlan()
        try Model.reserve(config, shape, &plan, decodeSlots: decodeSlots)
        let arena = try Arena(plan: plan)
        self.config = config; self.shape = shape; self.pass = shape; self.arena = arena
        layout = ParamLayout(config)
        pool = ThreadPool(threads: threads)
        func f(_ name: String) throws -> UnsafeMutablePointer<Float> { try arena.pointer(named: name) }
        func i(_ name: String) throws -> UnsafeMutablePointer<Int32> { try arena.pointer(named: name, as: Int32.self) }
        params = try f("params"); grads = try f("grads"); adamM = try f("adam.m"); adamV = try f("adam.v")
        tokens = try i("tokens"); targets = try i("targets"); coef = try f("coef"); entCoef = try f("ent_coef")
        logp = try f("logp"); entropy = try f("entropy"); logits = try f("logits")
        ropeCos = try f("rope.cos"); ropeSin = try f("rope.sin")
        res = try (0...config.nLayers).map { try f("res.\($0)") }
        acts = try (0..<config.nLayers).map { try LayerActs(layer: $0, plan: plan) }
        xnF = try f("xnf"); rstdF = try f("rstdf"); lse = try f("lse")
        dRes = try f("d_res"); dXn = try f("d_xn"); dAo = try f("d_ao"); dq = try f("d_q"); dk = try f("d_k")
        dv = try f("d_v"); dAtt = try f("d_att"); dGate = try f("d_gate"); dUp = try f("d_up"); dHid = try f("d_hid")
        partials = try arena.pointer(named: "partials", as: Double.self)
        gemmScratch = try f("gemm_ksplit")
        gemmScratchCount = Model.gemmScratchCount(config, shape)
        Rope.fillTables(cos: ropeCos, sin: ropeSin, maxSeq: config.maxSeq, headDim: config.headDim, theta: config.ropeTheta,
                        factors: config.ropeScaling?.factors)
        if initialize { initParameters(seed: seed) }
        if decodeSlots > 0 { decoder = try Decoder(model: self, slots: decodeSlots) }
    }

    /// Re-initialises parameters from `seed` and clears gradients and optimiser moments.
    public func initParameters(seed: UInt64) {
        var rng = Rng(seed: seed)
        let outScale = 1 / Float(2 * config.nLayers).squareRoot()
        for t in layout.tensors {
            let p = params + t.offset
            if t.shape.count == 1 {
                let bias = t.name.hasSuffix(".bq") || t.name.hasSuffix(".bk") || t.name.hasSuffix(".bv")
                for j in 0..<t.count { p[j] = bias ? 0 : 1 }
            } else {
                let scaled = t.name.hasSuffix(".wo") || t.name.hasSuffix(".w_down")
                let std: Float = 0.02 * (scaled ? outScale : 1)
                for j in 0..<t.count { p[j] = rng.nextGaussian() * std }
            }
        }
        memset(grads, 0, layout.count * 4)
        memset(adamM, 0, layout.count * 4)
        memset(adamV, 0, layout.count * 4)
    }

    @inline(__always) func act(_ index: Int) -> UnsafeMutablePointer<Float> { arena.pointer(index) }

    /// Sets every gradient to zero.
    public func zeroGrads() {
        pool.run(layout.count, ZeroJob(p: grads))
    }
}
