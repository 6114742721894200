/// Rotary position embedding in Hugging Face Llama's rotate-half convention: for a head
/// vector of size d (even) and half = d/2, with angle θ_j = pos · base^(−2j/d):
///   out[j]      = x[j]·cos θ_j − x[j+half]·sin θ_j
///   out[j+half] = x[j+half]·cos θ_j + x[j]·sin θ_j
/// Tables hold cos and sin for positions 0..<maxSeq, (maxSeq × half), computed in double.
/// With scaling `factors` (half entries), frequency j is divided by factors[j] (Llama 3.1).
public enum Rope {
    public static func fillTables(cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>,
                                  maxSeq: Int, headDim: Int, theta: Float, factors: [Float]? = nil) {
        let half = headDim / 2
        for p in 0..<maxSeq {
            for j in 0..<half {
                let f = factors.map { Double($0[j]) } ?? 1
                let inv = 1.0 / (_pow(Double(theta), Double(2 * j) / Double(headDim)) * f)
                let a = Double(p) * inv
                cos[p * half + j] = Float(_cos(a))
                sin[p * half + j] = Float(_sin(a))
            }
        }
    }

    /// Rotates `heads` consecutive head vectors of size d in place at position `pos`.
    /// `inverse` applies the transpose rotation (used by the backward pass).
    @inline(__always)
    public static func apply(_ v: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, pos: Int,
                             cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, inverse: Bool = false) {
        let half = d / 2
        let c = cos + pos * half, s = sin + pos * half
        for h in 0..<heads {
            let x = v + h * d
            if inverse {
                for j in 0..<half {
                    let a = x[j], b = x[j + half]
                    x[j] = a * c[j] + b * s[j]
                    x[j + half] = b * c[j] - a * s[j]
                }
            } else {
                for j in 0..<half {
                    let a = x[j], b = x[j + half]
                    x[j] = a * c[j] - b * s[j]
                    x[j + half] = b * c[j] + a * s[j]
                }
            }
        }
    }
}
