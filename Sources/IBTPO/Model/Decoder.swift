import Glibc

/// Incremental, KV-cached decoding of up to `slots` sequences at once, reading the same
/// parameters as the training `Model` it belongs to (`model.decoder`).
///
/// One call processes a set of *rows*; row i is token `tokens[i]` of slot `slots[i]` at
/// that slot's next position. Every weight is applied once to all rows as one matrix–matrix
/// product (m = rows), so sequences of different lengths decode together; attention then
/// reads each row's own slot's cache over positions 0...pos. A prefill is the same pass with
/// all rows in one slot. All buffers are arena sections (groups "kv_cache" and "decode");
/// nothing allocates after `Model.init`.
///
/// Results do not depend on the thread count, and a row's values do not depend on the other
/// rows of the pass (no reduction crosses rows).
public final class Decoder {
    public let config: ModelConfig
    /// Concurrent sequences the cache holds.
    public let slots: Int
    /// Rows one pass can process (≥ slots); longer prefills run in chunks.
    public let rowCapacity: Int
    public let cache: KVCache
    /// (rowCapacity, V): logits of the rows of the last `step`/`prefill` pass.
    public let logits: UnsafeMutablePointer<Float>

    let arena: Arena
    var pool: ThreadPool
    let params: UnsafeMutablePointer<Float>
    let layout: ParamLayout
    let ropeCos: UnsafeMutablePointer<Float>, ropeSin: UnsafeMutablePointer<Float>
    // Row inputs (rowCapacity each).
    let rowSlot: UnsafeMutablePointer<Int32>, rowPos: UnsafeMutablePointer<Int32>, rowTok: UnsafeMutablePointer<Int32>
    /// Per-slot stamp used to reject a slot listed twice in one step.
    let mark: UnsafeMutablePointer<Int32>
    var stamp: Int32 = 0
    // Activations: x, xn (R, C); rstd (R); qkv (R, C + 2·KV); ao (R, C); gu (R, 2F); hid (R, F);
    // scores (R, H, maxSeq).
    let x: UnsafeMutablePointer<Float>, xn: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    let qkv: UnsafeMutablePointer<Float>, ao: UnsafeMutablePointer<Float>, gu: UnsafeMutablePointer<Float>
    let hid: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    // Sampler scratch (see `reserve`).
    let sProbs: UnsafeMutablePointer<Float>, sOrder: UnsafeMutablePointer<Int32>, sRowSeq: UnsafeMutablePointer<Int32>
    let sToken: UnsafeMutablePointer<Int32>, sLogp: UnsafeMutablePointer<Float>, sSampleLogp: UnsafeMutablePointer<Float>
    /// Whether wq|wk|wv and w_gate|w_up are adjacent in the parameter vector (one GEMM each).
    let fusedQKV: [Bool], fusedGU: [Bool]

    static func rowCapacity(_ c: ModelConfig, slots: Int) -> Int { max(slots, min(c.maxSeq, 64)) }

    /// Adds the KV cache and decode scratch for `slots` sequences to `plan`.
    static func reserve(config c: ModelConfig, slots: Int, plan: inout MemoryPlan) throws {
        guard slots >= 1 && slots <= 1 << 16 else { throw invalid("decode slots must be in 1...65536 (got \(slots))") }
        try KVCache.reserve(config: c, slots: slots, plan: &plan)
        let R = rowCapacity(c, slots: slots), C = c.dModel, KV = c.kvDim, F = c.dFF, QD = c.qDim
        for name in ["decode.row_slot", "decode.row_pos", "decode.row_tok"] {
            try plan.reserve(name, group: "decode", count: R, of: Int32.self)
        }
        try plan.reserve("decode.mark", group: "decode", count: slots, of: Int32.self)
        let (sc, o) = R.multipliedReportingOverflow(by: c.nHeads * c.maxSeq)
        guard !o else { throw IBTPOError(.outOfMemory, "decode scores overflow") }
        for (name, n) in [("decode.x", R * C), ("decode.xn", R * C), ("decode.rstd", R), ("decode.qkv", R * (QD + 2 * KV)),
                          ("decode.ao", R * QD), ("decode.gu", R * 2 * F), ("decode.hid", R * F), ("decode.scores", sc),
                          ("decode.logits", R * c.vocab)] {
            try plan.reserve(name, group: "decode", count: n)
        }
        // Sampler scratch: per row a probability row and an order row (V each), the row's
        // sequence and its drawn token with both log-probabilities.
        try plan.reserve("sample.probs", group: "decode", count: R * c.vocab)
        try plan.reserve("sample.order", group: "decode", count: R * c.vocab, of: Int32.self)
        try plan.reserve("sample.row_seq", group: "decode", count: R, of: Int32.self)
        try plan.reserve("sample.token", group: "decode", count: R, of: Int32.self)
        try plan.reserve("sample.logp", group: "decode", count: R)
        try plan.reserve("sample.sample_logp", group: "decode", count: R)
    }

    /// Reads its sections (see `reserve`) from the model's arena by name.
    init(model m: Model, slots: Int) throws {
        config = m.config; self.slots = slots; rowCapacity = Decoder.rowCapacity(m.config, slots: slots)
        arena = m.arena; pool = m.pool; params = m.params; layout = m.layout; ropeCos = m.ropeCos; ropeSin = m.ropeSin
        cache = try KVCache(config: m.config, slots: slots, arena: m.arena)
        let a = m.arena
        func i(_ n: String) throws -> UnsafeMutablePointer<Int32> { try a.pointer(named: n, as: Int32.self) }
        func f(_ n: String) throws -> UnsafeMutablePointer<Float> { try a.pointer(named: n) }
        rowSlot = try i("decode.row_slot"); rowPos = try i("decode.row_pos"); rowTok = try i("decode.row_tok")
        mark = try i("decode.mark")
        x = try f("decode.x"); xn = try f("decode.xn"); rstd = try f("decode.rstd"); qkv = try f("decode.qkv")
        ao = try f("decode.ao"); gu = try f("decode.gu"); hid = try f("decode.hid"); scores = try f("decode.scores")
        logits = try f("decode.logits")
        sProbs = try f("sample.probs"); sOrder = try i("sample.order"); sRowSeq = try i("sample.row_seq")
        sToken = try i("sample.token"); sLogp = try f("sample.logp"); sSampleLogp = try f("sample.sample_logp")
        let c = m.config, C = c.dModel, KV = c.kvDim, F = c.dFF, QD = c.qDim
        fusedQKV = m.layout.layers.map { $0.wk == $0.wq + QD * C && $0.wv == $0.wk + KV * C }
        fusedGU = m.layout.layers.map { $0.wUp == $0.wGate + F * C }
    }

    /// Copy-on-branch: slot `to` starts as the first `length` cached positions of `from`
    /// (see `KVCache.copyPrefix`); the prefix is never recomputed.
    public func copyPrefix(from: Int, to: Int, length: Int) throws { try cache.copyPrefix(from: from, to: to, length: length) }

    /// Empties `slot`.
    public func reset(slot: Int) throws { try cache.reset(slot) }

    /// Cached positions of `slot` (its next token's position).
    public func length(slot: Int) -> Int { cache.length(slot) }

    /// Appends `tokens` to `slot` at positions length(slot)..., in chunks of `rowCapacity`
    /// rows. Afterwards `logits` rows 0..<k hold the logits of the last chunk's k tokens
    /// (skipped when `computeLogits` is false).
    public func prefill(slot: Int, tokens: UnsafeBufferPointer<Int32>, computeLogits: Bool = true) throws {
        guard slot >= 0 && slot < slots else { throw invalid("slot \(slot) is outside 0..<\(slots)") }
        let start = cache.length(slot)
        guard tokens.count <= config.maxSeq - start else {
            throw invalid("prefill of \(tokens.count) tokens overflows slot \(slot) (\(start) of max_seq \(config.maxSeq) used)")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= config.vocab {
            throw IBTPOError(.badData, "tokens[\(i)] = \(t) is outside [0, \(config.vocab))")
        }
        if let base = tokens.baseAddress { prefillRows(slot: slot, base, tokens.count, logits: computeLogits) }
    }

    /// `prefill` without validation (callers check slot, room and token range).
    func prefillRows(slot: Int, _ tokens: UnsafePointer<Int32>, _ count: Int, logits: Bool) {
        let start = cache.length(slot)
        var done = 0
        while done < count {
            let n = min(rowCapacity, count - done)
            for r in 0..<n {
                rowSlot[r] = Int32(slot); rowPos[r] = Int32(start + done + r); rowTok[r] = tokens[done + r]
            }
            forwardRows(n, logits: logits)
            done += n
            cache.lengths[slot] = Int32(start + done)
        }
    }

    public func prefill(slot: Int, tokens: [Int32], computeLogits: Bool = true) throws {
        try tokens.withUnsafeBufferPointer { try prefill(slot: slot, tokens: $0, computeLogits: computeLogits) }
    }

    /// One decode step: row i feeds `tokens[i]` to slot `slots[i]` at its next position and
    /// leaves that slot's next-token logits in `logits` row i. Slots must be distinct.
    public func step(slots s: UnsafeBufferPointer<Int32>, tokens: UnsafeBufferPointer<Int32>) throws {
        guard s.count == tokens.count else { throw invalid("step: \(s.count) slots but \(tokens.count) tokens") }
        guard s.count <= slots else { throw invalid("step: \(s.count) rows exceed the \(slots) slots") }
        stamp &+= 1
        if stamp == 0 { for i in 0..<slots { mark[i] = 0 }; stamp = 1 }
        for i in 0..<s.count {
            let slot = Int(s[i])
            guard slot >= 0 && slot < slots else { throw invalid("step: slot \(slot) is outside 0..<\(slots)") }
            guard mark[slot] != stamp else { throw invalid("step: slot \(slot) is listed twice") }
            mark[slot] = stamp
            guard cache.length(slot) < config.maxSeq else { throw invalid("step: slot \(slot) is full (max_seq \(config.maxSeq))") }
            guard tokens[i] >= 0 && Int(tokens[i]) < config.vocab else {
                throw IBTPOError(.badData, "step: tokens[\(i)] = \(tokens[i]) is outside [0, \(config.vocab))")
            }
        }
        for i in 0..<s.count { rowSlot[i] = s[i]; rowTok[i] = tokens[i] }
        stepRows(s.count)
    }

    public func step(slots s: [Int32], tokens: [Int32]) throws {
        try s.withUnsafeBufferPointer { sp in try tokens.withUnsafeBufferPointer { try step(slots: sp, tokens: $0) } }
    }

    /// `step` on rows already written to rowSlot/rowTok (validated by the caller): sets
    /// positions from the cache lengths, runs the pass and advances the lengths.
    func stepRows(_ n: Int) {
        for r in 0..<n { rowPos[r] = cache.lengths[Int(rowSlot[r])] }
        forwardRows(n, logits: true)
        for r in 0..<n { cache.lengths[Int(rowSlot[r])] += 1 }
    }

    /// y(n × outDim, row stride ldy) (+)= x(n × inDim) · Wᵀ with W (outDim × inDim) row-major:
    /// one matrix–matrix product over all n rows. (The transposed form yᵀ = W·xᵀ measured
    /// no faster.)
    @inline(__always)
    func lin(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
             n: Int, inDim: Int, outDim: Int, ldy: Int, beta: Float = 0) {
        if n <= Decoder.streamRows {
            pool.sgemmNTStream(n, outDim, inDim, x, inDim, w, inDim, beta: beta, y, ldy)
        } else {
            pool.sgemm(n, outDim, inDim, x, inDim, 1, w, 1, inDim, beta: beta, y, ldy, 1)
        }
    }

    /// Up to this many rows a product reads the weights in place (`sgemmNTStream`); more
    /// rows (a long prefill) go through the packed GEMM. SmolLM2-135M on Zen 5, 2 threads:
    /// the streaming kernel decodes 1, 8 and 64 sequences at 3.4×, 4.2× and 1.8× the
    /// packed GEMM's tokens/s (docs/model-formats.md).
    static let streamRows = 64

    /// Runs `job` over 0..<n on the pool, or inline on the caller when `work` (≈ flops) is
    /// too small to pay for waking the workers. Either way each row is computed the same way.
    @inline(__always)
    func runRows<J: ParallelJob>(_ n: Int, _ work: Int, _ job: J) {
        if n <= 0 { return }
        if work < 32_768 || pool.threads == 1 {
            withUnsafePointer(to: job) { J.entry(UnsafeRawPointer($0), 0, n) }
        } else {
            pool.run(n, job)
        }
    }

    /// The forward pass over rows 0..<n described by rowSlot/rowPos/rowTok.
    func forwardRows(_ n: Int, logits wantLogits: Bool) {
        let c = config, C = c.dModel, F = c.dFF, KV = c.kvDim, V = c.vocab, QD = c.qDim, W = QD + 2 * KV
        let P = params
        var attnWork = 0
        for r in 0..<n { attnWork += (Int(rowPos[r]) + 1) * 2 * C }
        // x = tok_embeddings[tokens]                                   // (n, C)
        runRows(n, n * C, EmbedJob(x: x, emb: P + layout.tokEmb, tokens: rowTok, c: C))
        for l in 0..<c.nLayers {
            let L = layout.layers[l]
            // xn = rmsnorm(x) · attention_norm                          // (n, C)
            runRows(n, n * C, RMSForwardJob(x: x, w: P + L.attnNorm, y: xn, rstd: rstd, c: C, eps: c.normEps))
            // [q | k | v] = xn [Wq; Wk; Wv]ᵀ [+ biases]                  // (n, H·d + 2·KV)
            if fusedQKV[l] {
                lin(xn, P + L.wq, qkv, n: n, inDim: C, outDim: W, ldy: W)
            } else {
                lin(xn, P + L.wq, qkv, n: n, inDim: C, outDim: QD, ldy: W)
                lin(xn, P + L.wk, qkv + QD, n: n, inDim: C, outDim: KV, ldy: W)
                lin(xn, P + L.wv, qkv + QD + KV, n: n, inDim: C, outDim: KV, ldy: W)
            }
            if c.attentionBias {
                runRows(n, n * QD, BiasAddJob(y: qkv, ld: W, b: P + L.bq, n: QD))
                runRows(n, n * KV, BiasAddJob(y: qkv + QD, ld: W, b: P + L.bk, n: KV))
                runRows(n, n * KV, BiasAddJob(y: qkv + QD + KV, ld: W, b: P + L.bv, n: KV))
            }
            // RoPE at each row's position; k, v → cache[l, slot, pos]
            runRows(n, n * W, RopeScatterJob(qkv: qkv, w: W, c: QD, kvDim: KV, heads: c.nHeads, kvHeads: c.nKVHeads,
                                       d: c.headDim, cos: ropeCos, sin: ropeSin, slot: rowSlot, pos: rowPos,
                                       kc: cache.k + cache.offset(l, 0, 0, 0), vc: cache.v + cache.offset(l, 0, 0, 0),
                                       maxSeq: c.maxSeq))
            // ao = softmax(q kᵀ/√d over the slot's positions 0...pos) v  // (n, H·d)
            runRows(n * c.nKVHeads, attnWork, DecodeAttentionJob(
                qkv: qkv, w: W, ao: ao, c: QD, kvDim: KV, heads: c.nHeads, kvHeads: c.nKVHeads, d: c.headDim,
                maxSeq: c.maxSeq, scores: scores, slot: rowSlot, pos: rowPos,
                kc: cache.k + cache.offset(l, 0, 0, 0), vc: cache.v + cache.offset(l, 0, 0, 0)))
            // x += ao Woᵀ
            lin(ao, P + L.wo, x, n: n, inDim: QD, outDim: C, ldy: C, beta: 1)
            // xn = rmsnorm(x) · ffn_norm
            runRows(n, n * C, RMSForwardJob(x: x, w: P + L.mlpNorm, y: xn, rstd: rstd, c: C, eps: c.normEps))
            // [gate | up] = xn [Wgate; Wup]ᵀ (n, 2F); hid = silu(gate) ⊙ up (n, F)
            if fusedGU[l] {
                lin(xn, P + L.wGate, gu, n: n, inDim: C, outDim: 2 * F, ldy: 2 * F)
            } else {
                lin(xn, P + L.wGate, gu, n: n, inDim: C, outDim: F, ldy: 2 * F)
                lin(xn, P + L.wUp, gu + F, n: n, inDim: C, outDim: F, ldy: 2 * F)
            }
            runRows(n, n * 4 * F, RowSwiGLUJob(gu: gu, h: hid, f: F))
            // x += hid Wdownᵀ
            lin(hid, P + L.wDown, x, n: n, inDim: F, outDim: C, ldy: C, beta: 1)
        }
        guard wantLogits else { return }
        // logits = (rmsnorm(x) · norm) Wlmᵀ                              // (n, V)
        runRows(n, n * C, RMSForwardJob(x: x, w: P + layout.finalNorm, y: xn, rstd: rstd, c: C, eps: c.normEps))
        lin(xn, P + layout.lmHead, logits, n: n, inDim: C, outDim: V, ldy: V)
    }
}

/// Rows lo..<hi: RoPE on q and k at the row's position, then k and v into the row's slot.
struct RopeScatterJob: ParallelJob {
    var qkv: FPtr, w: Int, c: Int, kvDim: Int, heads: Int, kvHeads: Int, d: Int, cos: FPtr, sin: FPtr
    var slot: UnsafeMutablePointer<Int32>, pos: UnsafeMutablePointer<Int32>, kc: FPtr, vc: FPtr, maxSeq: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, RopeScatterJob.self)
        for r in lo..<hi {
            let row = j.qkv + r * j.w, p = Int(j.pos[r])
            Rope.apply(row, heads: j.heads, headDim: j.d, pos: p, cos: j.cos, sin: j.sin)
            Rope.apply(row + j.c, heads: j.kvHeads, headDim: j.d, pos: p, cos: j.cos, sin: j.sin)
            for g in 0..<j.kvHeads {
                let dst = ((Int(j.slot[r]) * j.kvHeads + g) * j.maxSeq + p) * j.d
                memcpy(j.kc + dst, row + j.c + g * j.d, j.d * 4)
                memcpy(j.vc + dst, row + j.c + j.kvDim + g * j.d, j.d * 4)
            }
        }
    }
}

/// Rows lo..<hi: h = silu(gate) ⊙ up with gate, up the two halves of a (2F) row.
struct RowSwiGLUJob: ParallelJob {
    var gu: FPtr, h: FPtr, f: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, RowSwiGLUJob.self)
        for r in lo..<hi { SwiGLU.forward(j.gu + r * 2 * j.f, j.gu + r * 2 * j.f + j.f, j.h + r * j.f, 0, j.f) }
    }
}
