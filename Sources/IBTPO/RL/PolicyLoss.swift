import Glibc

/// Scalar loss, its parts and the update metrics of one `PolicyLoss.compute` call.
public struct PolicyLossResult: Equatable, Sendable {
    /// L = L_pg + β_KL·L_kl − c_ent·L_ent (all with the same per-token weights).
    public var loss: Double = 0
    /// L_pg = −Σ w_t·min(ρA, clip(ρ)A).
    public var pgLoss: Double = 0
    /// Masked tokens seen.
    public var tokens: Int = 0
    /// TRL's definition: fraction of masked tokens with ρ < 1 − ε_low and A < 0 (low), and
    /// with ρ > 1 + ε_high and A > 0 (high) — the tokens whose gradient the clip removes.
    public var clipFracLow: Double = 0
    public var clipFracHigh: Double = 0
    /// Token means over masked tokens (independent of the aggregation mode).
    public var meanKL: Double = 0
    public var meanEntropy: Double = 0
    public var meanRatio: Double = 0
}

/// The per-token inputs of `PolicyLoss.compute`: `count` positions each. `logpRef` nil
/// disables the KL term, `entropy` nil the entropy bonus, `mask` nil counts every position.
/// `sequence[t]` ≥ 0 is the index of position t's sequence. Pointers are borrowed for the
/// call only.
public struct PolicyLossInput<T: BinaryFloatingPoint> {
    public var count: Int
    public var logpNew: UnsafePointer<T>
    public var logpOld: UnsafePointer<T>
    public var logpRef: UnsafePointer<T>?
    public var advantages: UnsafePointer<T>
    public var sequence: UnsafePointer<Int32>
    public var mask: UnsafePointer<Bool>?
    public var entropy: UnsafePointer<T>?
    public init(count: Int, logpNew: UnsafePointer<T>, logpOld: UnsafePointer<T>, logpRef: UnsafePointer<T>?,
                advantages: UnsafePointer<T>, sequence: UnsafePointer<Int32>, mask: UnsafePointer<Bool>?,
                entropy: UnsafePointer<T>?) {
        self.count = count; self.logpNew = logpNew; self.logpOld = logpOld; self.logpRef = logpRef
        self.advantages = advantages; self.sequence = sequence; self.mask = mask; self.entropy = entropy
    }
}

/// How the batch's normaliser is counted: nil fields are counted from the input itself.
/// `tokenCount` / `sequenceCount` let the chunks of one minibatch share its normaliser;
/// `maxResponseLength` sizes the Dr. GRPO constant when `LossAggregation.constant(nil)`.
public struct PolicyLossCounts: Equatable, Sendable {
    public var maxResponseLength: Int?
    public var tokenCount: Int?
    public var sequenceCount: Int?
    public init(maxResponseLength: Int? = nil, tokenCount: Int? = nil, sequenceCount: Int? = nil) {
        self.maxResponseLength = maxResponseLength; self.tokenCount = tokenCount; self.sequenceCount = sequenceCount
    }
}

/// Token-level PPO-clip + k3 KL + entropy bonus (docs/algorithm.md §6), with the per-token
/// coefficients the model's backward consumes (`Model.coef`, `Model.entCoef`).
///
/// With per-token weights w_t (the aggregation's 1/N):
///
///     ρ_t  = exp(lpNew − lpOld)
///     L    = Σ_t w_t·[ −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)·A) + β_KL·(e^x − x − 1) − c_ent·H_t ],  x = lpRef − lpNew
///     coef_t    = ∂L/∂lpNew_t = w_t·[ −(ρA if the unclipped term is the min, else 0) + β_KL·(1 − e^x) ]
///     entCoef_t = ∂L/∂H_t     = −w_t·c_ent
///
/// where "the clipped branch is active" means ρA > clip(ρ)·A strictly (at ties the
/// unclipped gradient ρA is used). Masked-out tokens get coef = entCoef = 0.
///
/// Weights: tokenMean w = 1/(masked tokens); sequenceMean w = 1/(S·|o_i|) with S the
/// sequence count and |o_i| the masked tokens of sequence i; constant w = 1/C with
/// C = the given constant, or maxResponseLength·S when nil. S defaults to (largest
/// sequence index) + 1 over all positions; `tokenCount` / `sequenceCount` override the
/// batch counts (e.g. so that minibatches of one batch share the batch's normaliser).
public enum PolicyLoss {
    /// Fills `coef` / `entCoef` (`input.count` floats each, when given) and returns the loss
    /// and metrics. `perSequence` is scratch for the sequence-mean normaliser: at least
    /// (largest sequence index + 1) entries, or nil to allocate it (the array form does).
    public static func compute<T: BinaryFloatingPoint>(
        _ input: PolicyLossInput<T>, config: RLConfig, counts: PolicyLossCounts = PolicyLossCounts(),
        perSequence: UnsafeMutableBufferPointer<Int32>? = nil,
        coef: UnsafeMutablePointer<Float>?, entCoef: UnsafeMutablePointer<Float>?
    ) throws -> PolicyLossResult {
        let n = input.count, mask = input.mask, sequence = input.sequence
        let logpNew = input.logpNew, logpOld = input.logpOld, logpRef = input.logpRef
        let advantages = input.advantages, entropy = input.entropy
        let maxResponseLength = counts.maxResponseLength, tokenCount = counts.tokenCount
        let sequenceCount = counts.sequenceCount
        @inline(__always) func on(_ t: Int) -> Bool { mask?[t] ?? true }
        var res = PolicyLossResult()
        var maxSeq = -1
        for t in 0..<n {
            guard sequence[t] >= 0 else { throw invalid("policy loss: negative sequence index at token \(t)") }
            maxSeq = max(maxSeq, Int(sequence[t]))
            if on(t) { res.tokens += 1 }
        }
        let S = sequenceCount ?? (maxSeq + 1)
        let Ntok = tokenCount ?? res.tokens
        var owned: UnsafeMutableBufferPointer<Int32>? = nil
        defer { owned?.deallocate() }
        var perSeq = UnsafeMutableBufferPointer<Int32>(start: nil, count: 0)
        let norm: Double
        switch config.aggregation {
        case .tokenMean:
            norm = Double(Ntok)
        case .sequenceMean:
            norm = Double(S)
            if let perSequence {
                guard perSequence.count >= maxSeq + 1 else {
                    throw invalid("policy loss: \(perSequence.count) per-sequence slots for \(maxSeq + 1) sequences")
                }
                perSeq = perSequence
            } else {
                let b = UnsafeMutableBufferPointer<Int32>.allocate(capacity: maxSeq + 1)
                owned = b
                perSeq = b
            }
            for i in 0..<(maxSeq + 1) { perSeq[i] = 0 }
            for t in 0..<n where on(t) { perSeq[Int(sequence[t])] += 1 }
        case .constant(let c):
            if let c { norm = c } else {
                guard let L = maxResponseLength, L > 0 else {
                    throw invalid("policy loss: the constant normaliser needs maxResponseLength > 0")
                }
                norm = Double(L) * Double(S)
            }
        }
        if res.tokens == 0 || !(norm > 0) {
            for t in 0..<n { coef?[t] = 0; entCoef?[t] = 0 }
            return res
        }
        let lo = 1 - config.clipLow, hi = 1 + config.clipHigh
        let beta = config.klCoef, cEnt = config.entropyCoef
        var pg = 0.0, kl = 0.0, ent = 0.0
        var klSum = 0.0, entSum = 0.0, ratioSum = 0.0, nLow = 0, nHigh = 0
        for t in 0..<n {
            guard on(t) else { coef?[t] = 0; entCoef?[t] = 0; continue }
            let w = config.aggregation == .sequenceMean ? 1 / (norm * Double(perSeq[Int(sequence[t])])) : 1 / norm
            let lpn = Double(logpNew[t]), a = Double(advantages[t])
            let rho = exp(lpn - Double(logpOld[t]))
            let unclipped = rho * a, clipped = min(max(rho, lo), hi) * a
            let clippedActive = unclipped > clipped
            pg -= w * min(unclipped, clipped)
            var g = clippedActive ? 0 : -w * unclipped
            if rho < lo && a < 0 { nLow += 1 }
            if rho > hi && a > 0 { nHigh += 1 }
            ratioSum += rho
            if let logpRef {
                let x = Double(logpRef[t]) - lpn
                let ex = exp(x)
                let k3 = ex - x - 1
                kl += w * k3; klSum += k3
                g += beta * w * (1 - ex)
            }
            if let entropy {
                let h = Double(entropy[t])
                ent += w * h; entSum += h
            }
            coef?[t] = Float(g)
            entCoef?[t] = entropy != nil ? Float(-cEnt * w) : 0
        }
        let m = Double(res.tokens)
        res.pgLoss = pg
        res.loss = pg + (logpRef != nil ? beta * kl : 0) - (entropy != nil ? cEnt * ent : 0)
        res.clipFracLow = Double(nLow) / m; res.clipFracHigh = Double(nHigh) / m
        res.meanKL = klSum / m; res.meanEntropy = entSum / m
        res.meanRatio = ratioSum / m
        return res
    }

    /// Array form. `logpRef` / `entropy` nil disables the KL / entropy terms; `mask` nil =
    /// every token counts. Returns the result plus coef and entCoef arrays of length n.
    public static func compute<T: BinaryFloatingPoint>(
        logpNew: [T], logpOld: [T], logpRef: [T]?, advantages: [T], sequence: [Int32], mask: [Bool]?,
        entropy: [T]? = nil, config: RLConfig, maxResponseLength: Int? = nil,
        tokenCount: Int? = nil, sequenceCount: Int? = nil
    ) throws -> (result: PolicyLossResult, coef: [Float], entCoef: [Float]) {
        let n = logpNew.count
        for (name, c) in [("logpOld", logpOld.count), ("logpRef", logpRef?.count ?? n), ("advantages", advantages.count),
                          ("sequence", sequence.count), ("mask", mask?.count ?? n), ("entropy", entropy?.count ?? n)]
        where c != n {
            throw invalid("policy loss: \(name) has \(c) values, logpNew has \(n)")
        }
        var coef = [Float](repeating: 0, count: n), entCoef = [Float](repeating: 0, count: n)
        let counts = PolicyLossCounts(maxResponseLength: maxResponseLength, tokenCount: tokenCount,
                                      sequenceCount: sequenceCount)
        // Contiguous copies keep the pointers valid for the whole call.
        let lpn = UnsafeMutableBufferPointer<T>.allocate(capacity: max(1, 5 * n))
        defer { lpn.deallocate() }
        let seqBuf = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(1, n))
        defer { seqBuf.deallocate() }
        let maskBuf = UnsafeMutableBufferPointer<Bool>.allocate(capacity: max(1, n))
        defer { maskBuf.deallocate() }
        let base = lpn.baseAddress!
        for t in 0..<n {
            base[t] = logpNew[t]; base[n + t] = logpOld[t]; base[2 * n + t] = advantages[t]
            base[3 * n + t] = logpRef?[t] ?? 0; base[4 * n + t] = entropy?[t] ?? 0
            seqBuf[t] = sequence[t]; maskBuf[t] = mask?[t] ?? true
        }
        let input = PolicyLossInput<T>(count: n, logpNew: base, logpOld: base + n, logpRef: logpRef == nil ? nil : UnsafePointer(base + 3 * n),
                                       advantages: base + 2 * n, sequence: seqBuf.baseAddress!,
                                       mask: mask == nil ? nil : UnsafePointer(maskBuf.baseAddress!),
                                       entropy: entropy == nil ? nil : UnsafePointer(base + 4 * n))
        let r = try coef.withUnsafeMutableBufferPointer { cb in
            try entCoef.withUnsafeMutableBufferPointer { eb in
                try compute(input, config: config, counts: counts, coef: cb.baseAddress, entCoef: eb.baseAddress)
            }
        }
        return (r, coef, entCoef)
    }

    /// The scalar loss only (double precision when T = Double), for finite differences.
    public static func loss<T: BinaryFloatingPoint>(
        logpNew: [T], logpOld: [T], logpRef: [T]?, advantages: [T], sequence: [Int32], mask: [Bool]?,
        entropy: [T]? = nil, config: RLConfig, maxResponseLength: Int? = nil
    ) throws -> Double {
        try compute(logpNew: logpNew, logpOld: logpOld, logpRef: logpRef, advantages: advantages, sequence: sequence,
                    mask: mask, entropy: entropy, config: config, maxResponseLength: maxResponseLength).result.loss
    }
}
