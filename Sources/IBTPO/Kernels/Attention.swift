/// Causal multi-head attention with grouped KV heads over a padded batch of B sequences of
/// length T, all tensors row-major with tokens as rows:
///   q (B·T, H·d), k and v (B·T, KV·d), probabilities p (B, H, T, T), output o (B·T, H·d).
/// Head h reads KV group h / (H/KV). Work is split by (sequence, KV group) so that the
/// gradients of a group's k and v are summed by one thread in a fixed order.
public struct AttentionShape {
    public var batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int
    public var rep: Int { heads / kvHeads }
    public var qStride: Int { heads * headDim }
    public var kvStride: Int { kvHeads * headDim }
    public var scale: Float { 1 / Float(headDim).squareRoot() }
    public var units: Int { batch * kvHeads }
}

public enum Attention {
    /// Forward for units u0..<u1 (unit = b·KV + g).
    public static func forward(_ s: AttentionShape, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                               _ v: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>,
                               _ o: UnsafeMutablePointer<Float>, units u0: Int, _ u1: Int) {
        let T = s.seq, d = s.headDim
        for u in u0..<u1 {
            let b = u / s.kvHeads, g = u % s.kvHeads
            let kb = k + b * T * s.kvStride + g * d, vb = v + b * T * s.kvStride + g * d
            for h in g * s.rep..<(g + 1) * s.rep {
                let qb = q + b * T * s.qStride + h * d
                let pb = p + (b * s.heads + h) * T * T
                // S = scale · Q Kᵀ  (T×T)
                Matmul.sgemm(T, T, d, alpha: s.scale, qb, s.qStride, 1, kb, 1, s.kvStride, pb, T, 1)
                for i in 0..<T { causalSoftmaxRow(pb + i * T, valid: i + 1, total: T) }
                // O = P V  (T×d)
                Matmul.sgemm(T, d, T, pb, T, 1, vb, s.kvStride, 1, o + b * T * s.qStride + h * d, s.qStride, 1)
            }
        }
    }

    /// Backward for units u0..<u1. Writes dq (all heads of the unit) and dk, dv (its group);
    /// `dp` is scratch shaped like p. Gradients are with respect to the post-RoPE q and k.
    public static func backward(_ s: AttentionShape, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                                _ v: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ dout: UnsafePointer<Float>,
                                _ dp: UnsafeMutablePointer<Float>, _ dq: UnsafeMutablePointer<Float>,
                                _ dk: UnsafeMutablePointer<Float>, _ dv: UnsafeMutablePointer<Float>,
                                units u0: Int, _ u1: Int) {
        let T = s.seq, d = s.headDim
        for u in u0..<u1 {
            let b = u / s.kvHeads, g = u % s.kvHeads
            let kOff = b * T * s.kvStride + g * d
            for (idx, h) in (g * s.rep..<(g + 1) * s.rep).enumerated() {
                let qOff = b * T * s.qStride + h * d
                let pb = p + (b * s.heads + h) * T * T
                let db = dp + (b * s.heads + h) * T * T
                let beta: Float = idx == 0 ? 0 : 1
                // dV += Pᵀ dO   (T×d)
                Matmul.sgemm(T, d, T, pb, 1, T, dout + qOff, s.qStride, 1, beta: beta, dv + kOff, s.kvStride, 1)
                // dP = dO Vᵀ   (T×T)
                Matmul.sgemm(T, T, d, dout + qOff, s.qStride, 1, v + kOff, 1, s.kvStride, db, T, 1)
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale, causal
                for i in 0..<T {
                    let pr = pb + i * T, dr = db + i * T
                    let dt = dot(pr, dr, i + 1)
                    for j in 0...i { dr[j] = pr[j] * (dr[j] - dt) * s.scale }
                    for j in (i + 1)..<T { dr[j] = 0 }
                }
                // dQ = dS K   (T×d)
                Matmul.sgemm(T, d, T, db, T, 1, k + kOff, s.kvStride, 1, dq + qOff, s.qStride, 1)
                // dK += dSᵀ Q  (T×d)
                Matmul.sgemm(T, d, T, db, 1, T, q + qOff, s.qStride, 1, beta: beta, dk + kOff, s.kvStride, 1)
            }
        }
    }

    /// In-place softmax of row[0..<valid]; row[valid..<total] is set to 0.
    @inline(__always)
    public static func causalSoftmaxRow(_ row: UnsafeMutablePointer<Float>, valid: Int, total: Int) {
        var m = -Float.infinity
        for j in 0..<valid where row[j] > m { m = row[j] }
        var sum: Float = 0
        var j = 0
        let mv = SIMD8<Float>(repeating: m)
        var acc = SIMD8<Float>()
        while j + 8 <= valid {
            let e = simdExp(UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self) - mv)
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            j += 8
        }
        sum = acc.sum()
        while j < valid { let e = fastExp(row[j] - m); row[j] = e; sum += e; j += 1 }
        let inv = 1 / sum
        for j in 0..<valid { row[j] *= inv }
        for j in valid..<total { row[j] = 0 }
    }
}
