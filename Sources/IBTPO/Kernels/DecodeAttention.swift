/// Attention of one query row per sequence over that sequence's cached keys (decoding).
/// Unit u = r·KV + g: row r, KV group g, whose heads h ∈ [g·rep, (g+1)·rep) each compute
///   s_j = q_h·k_j / √d for j in 0...pos,  p = softmax(s),  o_h = Σ_j p_j v_j
/// with k_j, v_j the group's slice of cache row j of the row's slot. Hand-written SIMD dot
/// products: one query per head is a matrix–vector product, where a BLIS call per head costs
/// more than the arithmetic.
struct DecodeAttentionJob: ParallelJob {
    var qkv: FPtr, w: Int, ao: FPtr, c: Int, kvDim: Int, heads: Int, kvHeads: Int, d: Int, maxSeq: Int
    var scores: FPtr, slot: UnsafeMutablePointer<Int32>, pos: UnsafeMutablePointer<Int32>, kc: FPtr, vc: FPtr

    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, DecodeAttentionJob.self)
        let d = j.d, KV = j.kvDim, rep = j.heads / j.kvHeads
        let scale = 1 / Float(d).squareRoot()
        for u in lo..<hi {
            let r = u / j.kvHeads, g = u % j.kvHeads
            let n = Int(j.pos[r]) + 1
            let base = Int(j.slot[r]) * j.maxSeq * KV + g * d
            let kb = j.kc + base, vb = j.vc + base
            for h in g * rep..<(g + 1) * rep {
                let q = j.qkv + r * j.w + h * d
                let s = j.scores + (r * j.heads + h) * j.maxSeq
                for t in 0..<n { s[t] = dot(q, kb + t * KV, d) * scale }
                Attention.causalSoftmaxRow(s, valid: n, total: n)
                let o = j.ao + r * j.c + h * d
                weightedSum(s, vb, stride: KV, n: n, d: d, out: o)
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= d {
            acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                           UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
            i += 8
        }
        var s = acc.sum()
        while i < d { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// out(d) = Σ_t p[t] · v[t·stride ..< t·stride + d].
    @inline(__always)
    static func weightedSum(_ p: UnsafePointer<Float>, _ v: UnsafePointer<Float>, stride: Int, n: Int, d: Int,
                            out: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 16 <= d {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
            for t in 0..<n {
                let pv = SIMD8<Float>(repeating: p[t])
                let row = UnsafeRawPointer(v + t * stride + i)
                a0.addProduct(pv, row.loadUnaligned(as: SIMD8<Float>.self))
                a1.addProduct(pv, (row + 32).loadUnaligned(as: SIMD8<Float>.self))
            }
            UnsafeMutableRawPointer(out + i).storeBytes(of: a0, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + i + 8).storeBytes(of: a1, as: SIMD8<Float>.self)
            i += 16
        }
        while i + 8 <= d {
            var a0 = SIMD8<Float>()
            for t in 0..<n {
                a0.addProduct(SIMD8<Float>(repeating: p[t]), UnsafeRawPointer(v + t * stride + i).loadUnaligned(as: SIMD8<Float>.self))
            }
            UnsafeMutableRawPointer(out + i).storeBytes(of: a0, as: SIMD8<Float>.self)
            i += 8
        }
        while i < d {
            var s: Float = 0
            for t in 0..<n { s += p[t] * v[t * stride + i] }
            out[i] = s
            i += 1
        }
    }
}
