import Glibc

/// Scalar loss, its parts and the update metrics of one `PolicyLoss.compute` call.
public struct PolicyLossResult: Equatable, Sendable {
    /// L = L_pg + β_KL·L_kl − c_ent·L_ent (all with the same per-token weights).
    public var loss: Double = 0
    /// L_pg = −Σ w_t·min(ρA, clip(ρ)A).
    public var pgLoss: Double = 0
    /// Σ w_t·KL_t (before β_KL); 0 without reference log-probs.
    public var klLoss: Double = 0
    /// Σ w_t·H_t (before c_ent); 0 without entropies.
    public var entropyLoss: Double = 0
    /// Masked tokens and sequences seen.
    public var tokens: Int = 0
    public var sequences: Int = 0
    /// TRL's definition: fraction of masked tokens with ρ < 1 − ε_low and A < 0 (low), and
    /// with ρ > 1 + ε_high and A > 0 (high) — the tokens whose gradient the clip removes.
    public var clipFracLow: Double = 0
    public var clipFracHigh: Double = 0
    /// Token means over masked tokens (independent of the aggregation mode).
    public var meanKL: Double = 0
    public var meanEntropy: Double = 0
    public var meanRatio: Double = 0
    public var meanAdvantage: Double = 0
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
    public static func compute<T: BinaryFloatingPoint>(
        count n: Int,
        logpNew: UnsafePointer<T>, logpOld: UnsafePointer<T>, logpRef: UnsafePointer<T>?,
        advantages: UnsafePointer<T>, sequence: UnsafePointer<Int32>, mask: UnsafePointer<Bool>?,
        entropy: UnsafePointer<T>?, config: RLConfig, maxResponseLength: Int? = nil,
        tokenCount: Int? = nil, sequenceCount: Int? = nil,
        coef: UnsafeMutablePointer<Float>?, entCoef: UnsafeMutablePointer<Float>?
    ) throws -> PolicyLossResult {
        @inline(__always) func on(_ t: Int) -> Bool { mask?[t] ?? true }
        var res = PolicyLossResult()
        var maxSeq = -1
        for t in 0..<n {
            guard sequence[t] >= 0 else { throw invalid("policy loss: negative sequence index at token \(t)") }
            maxSeq = max(maxSeq, Int(sequence[t]))
            if on(t) { res.tokens += 1 }
        }
        let S = sequenceCount ?? (maxSeq + 1)
        res.sequences = S
        let Ntok = tokenCount ?? res.tokens
        var perSeq: [Int] = []
        let norm: Double
        switch config.aggregation {
        case .tokenMean:
            norm = Double(Ntok)
        case .sequenceMean:
            norm = Double(S)
            perSeq = [Int](repeating: 0, count: maxSeq + 1)
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
        var klSum = 0.0, entSum = 0.0, ratioSum = 0.0, advSum = 0.0, nLow = 0, nHigh = 0
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
            ratioSum += rho; advSum += a
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
        res.pgLoss = pg; res.klLoss = kl; res.entropyLoss = ent
        res.loss = pg + (logpRef != nil ? beta * kl : 0) - (entropy != nil ? cEnt * ent : 0)
        res.clipFracLow = Double(nLow) / m; res.clipFracHigh = Double(nHigh) / m
        res.meanKL = klSum / m; res.meanEntropy = entSum / m
        res.meanRatio = ratioSum / m; res.meanAdvantage = advSum / m
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
        let r = try logpNew.withUnsafeBufferPointer { lpn in
            try logpOld.withUnsafeBufferPointer { lpo in
                try advantages.withUnsafeBufferPointer { adv in
                    try sequence.withUnsafeBufferPointer { seq in
                        try withOptional(logpRef) { ref in
                            try withOptional(mask) { msk in
                                try withOptional(entropy) { ent in
                                    try coef.withUnsafeMutableBufferPointer { cb in
                                        try entCoef.withUnsafeMutableBufferPointer { eb in
                                            try compute(count: n, logpNew: base(lpn), logpOld: base(lpo), logpRef: ref,
                                                        advantages: base(adv), sequence: base(seq), mask: msk,
                                                        entropy: ent, config: config,
                                                        maxResponseLength: maxResponseLength, tokenCount: tokenCount,
                                                        sequenceCount: sequenceCount, coef: cb.baseAddress,
                                                        entCoef: eb.baseAddress)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
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

    @inline(__always)
    private static func base<E>(_ b: UnsafeBufferPointer<E>) -> UnsafePointer<E> {
        // A zero-length buffer may have no base address; any valid pointer works then (never read).
        b.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<E>.alignment)!
    }

    private static func withOptional<E, R>(_ a: [E]?, _ body: (UnsafePointer<E>?) throws -> R) rethrows -> R {
        guard let a else { return try body(nil) }
        return try a.withUnsafeBufferPointer { try body(base($0)) }
    }
}
