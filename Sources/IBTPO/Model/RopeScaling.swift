/// Per-frequency RoPE scaling: rotary frequency j (0 ≤ j < head_dim/2) is divided by
/// `factors[j]`, so the angle at position p is p · θ^(−2j/d) / factors[j].
///
/// This is the form GGUF files carry (llama.cpp's `rope_freqs.weight` tensor) and the form
/// Hugging Face's `rope_scaling = {"rope_type": "llama3", ...}` reduces to; `llama3` keeps
/// those parameters when the factors were computed from them, so an export can write them
/// back. (Llama 3's attention scaling factor is 1, so nothing else changes.)
public struct RopeScaling: Equatable, Sendable {
    /// The "llama3" parameters of Hugging Face's config.
    public struct Llama3: Equatable, Sendable {
        public var factor: Double
        public var lowFreqFactor: Double
        public var highFreqFactor: Double
        public var originalMaxPositions: Int
        public init(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int) {
            self.factor = factor; self.lowFreqFactor = lowFreqFactor; self.highFreqFactor = highFreqFactor
            self.originalMaxPositions = originalMaxPositions
        }
    }

    /// Divisor of each rotary frequency (head_dim / 2 entries, finite and > 0).
    public var factors: [Float]
    /// The parameters `factors` came from, when known.
    public var llama3: Llama3?

    public init(factors: [Float], llama3: Llama3? = nil) { self.factors = factors; self.llama3 = llama3 }

    /// The factors of Llama 3.1's scheme, as transformers' `_compute_llama3_parameters`
    /// computes them: wavelengths shorter than original/high_freq_factor are kept, longer
    /// than original/low_freq_factor divided by `factor`, and those between interpolated.
    /// Throws `.invalidArgument` for parameters outside their ranges.
    public static func llama3(_ p: Llama3, headDim: Int, theta: Double) throws -> RopeScaling {
        guard p.factor.isFinite && p.factor >= 1, p.lowFreqFactor.isFinite && p.lowFreqFactor > 0,
              p.highFreqFactor.isFinite && p.highFreqFactor > p.lowFreqFactor,
              p.originalMaxPositions >= 1 && p.originalMaxPositions <= 1 << 24,
              headDim >= 2 && headDim % 2 == 0, theta.isFinite && theta > 1 else {
            throw invalid("rope_scaling llama3: need factor >= 1, 0 < low_freq_factor < high_freq_factor and "
                + "original_max_position_embeddings >= 1 (got \(p.factor), \(p.lowFreqFactor), \(p.highFreqFactor), "
                + "\(p.originalMaxPositions))")
        }
        let old = Double(p.originalMaxPositions)
        let lowWavelen = old / p.lowFreqFactor, highWavelen = old / p.highFreqFactor
        var f: [Float] = []
        for j in 0..<headDim / 2 {
            let inv = 1 / _pow(theta, Double(2 * j) / Double(headDim))
            let wavelen = 2 * Double.pi / inv
            if wavelen < highWavelen {
                f.append(1)
            } else if wavelen > lowWavelen {
                f.append(Float(p.factor))
            } else {
                let smooth = (old / wavelen - p.lowFreqFactor) / (p.highFreqFactor - p.lowFreqFactor)
                f.append(Float(1 / ((1 - smooth) / p.factor + smooth)))
            }
        }
        return RopeScaling(factors: f, llama3: p)
    }

    /// Throws `.invalidArgument` unless there are head_dim/2 factors, each finite and > 0.
    func validate(headDim: Int) throws {
        guard factors.count == headDim / 2 else {
            throw invalid("model config: rope scaling has \(factors.count) factors, head_dim \(headDim) needs \(headDim / 2)")
        }
        if let i = factors.firstIndex(where: { !($0.isFinite && $0 > 0 && $0 < 1e30) }) {
            throw invalid("model config: rope scaling factor \(i) (\(factors[i])) must be finite and > 0")
        }
    }
}
