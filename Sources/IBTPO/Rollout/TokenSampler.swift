import Glibc

/// How the next token is drawn from a row of logits.
///
/// The sampling distribution is: softmax(logits / temperature), restricted to the `topK`
/// highest logits (ties: lower token id first), then to the shortest prefix of those, in
/// descending order, whose probability mass is ≥ `topP` of the top-k mass (the nucleus),
/// renormalised. `temperature == 0` is greedy (argmax, lowest id on ties).
public struct SamplingParams: Equatable, Sendable {
    /// ≥ 0; 0 = greedy.
    public var temperature: Float = 1
    /// 0 (or ≥ vocab) = no top-k filter.
    public var topK: Int = 0
    /// In (0, 1]; 1 = no nucleus filter.
    public var topP: Float = 1
    /// Generated tokens per sequence at most (prompt tokens do not count). A sequence also
    /// stops when prompt + generated tokens reach the model's max_seq.
    public var maxNewTokens: Int = 64
    /// Generation stops after this token (it is recorded); nil = never.
    public var eos: Int32? = 257

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, maxNewTokens: Int = 64, eos: Int32? = 257) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.maxNewTokens = maxNewTokens; self.eos = eos
    }

    public func validate() throws {
        guard temperature.isFinite && temperature >= 0 && temperature <= 1e4 else {
            throw invalid("temperature must be in [0, 1e4] (got \(temperature))")
        }
        guard topK >= 0 else { throw invalid("top_k must be ≥ 0 (got \(topK))") }
        guard topP.isFinite && topP > 0 && topP <= 1 else { throw invalid("top_p must be in (0, 1] (got \(topP))") }
        guard maxNewTokens >= 1 && maxNewTokens <= 1 << 20 else {
            throw invalid("max_new_tokens must be in 1...1048576 (got \(maxNewTokens))")
        }
    }
}

/// One drawn token and its log-probabilities.
public struct SampledToken: Equatable, Sendable {
    public var token: Int32
    /// log softmax(logits)[token] at temperature 1 with no filtering: the policy's own
    /// log-probability, the `log π_old` that PPO ratios compare against the training forward.
    public var logp: Float
    /// log of the token's probability under the distribution it was actually drawn from
    /// (temperature, top-k, top-p, renormalised); 0 for greedy.
    public var sampleLogp: Float
}

public enum TokenSampler {
    /// Draws one token from `logits` (V, finite) with `rng`, using `probs` (V floats) and
    /// `order` (V Int32) as scratch. Allocates nothing.
    public static func sample(_ logits: UnsafePointer<Float>, vocab V: Int, _ p: SamplingParams, rng: inout Rng,
                              probs: UnsafeMutablePointer<Float>, order: UnsafeMutablePointer<Int32>) -> SampledToken {
        // Max, argmax and the temperature-1 log-normaliser.
        var m = logits[0], arg = 0
        for i in 1..<V where logits[i] > m { m = logits[i]; arg = i }
        let lse1 = m + Float(_log(Double(expSum(logits, V, shift: m, scale: 1, out: nil))))
        if p.temperature == 0 {
            return SampledToken(token: Int32(arg), logp: logits[arg] - lse1, sampleLogp: 0)
        }
        // probs = exp((l − m)/T), unnormalised (the maximum is exactly 1).
        let total = expSum(logits, V, shift: m, scale: 1 / p.temperature, out: probs)
        let k = p.topK > 0 && p.topK < V ? p.topK : V
        var tok = arg, mass = total
        if k == V && p.topP >= 1 {
            // Inverse CDF in token order.
            let u = Float(rng.nextDouble()) * total
            var cum: Float = 0
            tok = -1
            for i in 0..<V where probs[i] > 0 {
                cum += probs[i]
                tok = i
                if cum > u { break }
            }
            if tok < 0 { tok = arg }
        } else {
            // Heap-select in descending (logit, −id) order; popped tokens land at order[V−1], order[V−2], ...
            for i in 0..<V { order[i] = Int32(i) }
            var size = V
            var i = V / 2 - 1
            while i >= 0 { siftDown(order, i, size, logits); i -= 1 }
            var kept = 0
            mass = 0
            let target = k == V ? p.topP * total : 0
            while kept < k {
                let top = order[0]
                size -= 1
                order[0] = order[size]; order[size] = top
                siftDown(order, 0, size, logits)
                kept += 1
                mass += probs[Int(top)]
                if k == V && mass >= target { break }
            }
            if k < V && p.topP < 1 {
                // Nucleus inside the top-k set.
                let t = p.topP * mass
                var cum: Float = 0, n = 0
                while n < kept { cum += probs[Int(order[V - 1 - n])]; n += 1; if cum >= t { break } }
                kept = n; mass = cum
            }
            let u = Float(rng.nextDouble()) * mass
            var cum: Float = 0
            tok = Int(order[V - 1])
            for n in 0..<kept {
                let id = Int(order[V - 1 - n])
                cum += probs[id]
                tok = id
                if cum > u { break }
            }
        }
        return SampledToken(token: Int32(tok), logp: logits[tok] - lse1,
                            sampleLogp: Float(_log(Double(probs[tok]) / Double(mass))))
    }

    /// Σ exp((x_i − shift)·scale), SIMD; stores the terms in `out` when given.
    @inline(__always)
    static func expSum(_ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float,
                       out: UnsafeMutablePointer<Float>?) -> Float {
        let sv = SIMD8<Float>(repeating: shift), kv = SIMD8<Float>(repeating: scale)
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let e = simdExp((UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - sv) * kv)
            if let out { UnsafeMutableRawPointer(out + i).storeBytes(of: e, as: SIMD8<Float>.self) }
            acc += e
            i += 8
        }
        var s = acc.sum()
        while i < n {
            let e = fastExp((x[i] - shift) * scale)
            out?[i] = e
            s += e
            i += 1
        }
        return s
    }

    /// a ranks before b: higher logit, then lower id.
    @inline(__always)
    static func before(_ a: Int32, _ b: Int32, _ l: UnsafePointer<Float>) -> Bool {
        let la = l[Int(a)], lb = l[Int(b)]
        return la > lb || (la == lb && a < b)
    }

    @inline(__always)
    static func siftDown(_ h: UnsafeMutablePointer<Int32>, _ start: Int, _ size: Int, _ l: UnsafePointer<Float>) {
        var i = start
        while true {
            let a = 2 * i + 1
            if a >= size { return }
            var best = a
            if a + 1 < size && before(h[a + 1], h[a], l) { best = a + 1 }
            if !before(h[best], h[i], l) { return }
            let t = h[i]; h[i] = h[best]; h[best] = t
            i = best
        }
    }
}
