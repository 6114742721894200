/// Attention of one query row per sequence over that sequence's cached keys (decoding).
/// Unit u = r·KV + g: row r, KV group g, whose heads h ∈ [g·rep, (g+1)·rep) each compute
///   s_j = q_h·k_j / √d for j in 0...pos,  p = softmax(s),  o_h = Σ_j p_j v_j
/// with k_j, v_j row j of the group's (maxSeq, d) block of the row's slot in the cache. Hand-written SIMD dot
/// products: one query per head is a matrix–vector product, where a BLIS call per head costs
/// more than the arithmetic.
struct DecodeAttentionJob: ParallelJob {
    var qkv: FPtr, w: Int, ao: FPtr, c: Int, kvDim: Int, heads: Int, kvHeads: Int, d: Int, maxSeq: Int
    var scores: FPtr, slot: UnsafeMutablePointer<Int32>, pos: UnsafeMutablePointer<Int32>, kc: FPtr, vc: FPtr

    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, DecodeAttentionJob.self)
        let d = j.d, rep = j.heads / j.kvHeads
        let scale = 1 / Float(d).squareRoot()
        for u in lo..<hi {
            let r = u / j.kvHeads, g = u % j.kvHeads
            let n = Int(j.pos[r]) + 1
            let base = (Int(j.slot[r]) * j.kvHeads + g) * j.maxSeq * d
            let kb = j.kc + base, vb = j.vc + base
            for h in g * rep..<(g + 1) * rep {
                let q = j.qkv + r * j.w + h * d
                let s = j.scores + (r * j.heads + h) * j.maxSeq
                scoresRow(q, kb, n: n, d: d, scale: scale, out: s)
                Attention.causalSoftmaxRow(s, valid: n, total: n)
                let o = j.ao + r * j.c + h * d
                weightedSum(s, vb, stride: d, n: n, d: d, out: o)
            }
        }
    }

    /// out[t] = scale · q·k_t for t < n, k_t = kb[t·d ..< t·d + d]; four keys at a time
    /// (independent accumulators keep several cache lines in flight).
    @inline(__always)
    static func scoresRow(_ q: UnsafePointer<Float>, _ kb: UnsafePointer<Float>, n: Int, d: Int, scale: Float,
                          out: UnsafeMutablePointer<Float>) {
        var t = 0
        if d % 8 == 0 {
            while t + 4 <= n {
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                let k0 = UnsafeRawPointer(kb + t * d), k1 = k0 + d * 4, k2 = k1 + d * 4, k3 = k2 + d * 4
                var i = 0
                while i < d {
                    let qv = UnsafeRawPointer(q + i).loadUnaligned(as: SIMD8<Float>.self)
                    a0.addProduct(qv, k0.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
                    a1.addProduct(qv, k1.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
                    a2.addProduct(qv, k2.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
                    a3.addProduct(qv, k3.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
                    i += 8
                }
                out[t] = a0.sum() * scale; out[t + 1] = a1.sum() * scale
                out[t + 2] = a2.sum() * scale; out[t + 3] = a3.sum() * scale
                t += 4
            }
        }
        while t < n { out[t] = dot(q, kb + t * d, d) * scale; t += 1 }
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
        if d == 32 || d == 64 {
            // One pass over the rows with every output lane in registers.
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            let wide = d == 64
            for t in 0..<n {
                let pv = SIMD8<Float>(repeating: p[t])
                let row = UnsafeRawPointer(v + t * stride)
                a0.addProduct(pv, row.loadUnaligned(as: SIMD8<Float>.self))
                a1.addProduct(pv, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                a2.addProduct(pv, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                a3.addProduct(pv, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
                if wide {
                    a4.addProduct(pv, row.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self))
                    a5.addProduct(pv, row.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self))
                    a6.addProduct(pv, row.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self))
                    a7.addProduct(pv, row.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self))
                }
            }
            let o = UnsafeMutableRawPointer(out)
            o.storeBytes(of: a0, as: SIMD8<Float>.self); o.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
            o.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self); o.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
            if wide {
                o.storeBytes(of: a4, toByteOffset: 128, as: SIMD8<Float>.self); o.storeBytes(of: a5, toByteOffset: 160, as: SIMD8<Float>.self)
                o.storeBytes(of: a6, toByteOffset: 192, as: SIMD8<Float>.self); o.storeBytes(of: a7, toByteOffset: 224, as: SIMD8<Float>.self)
            }
            return
        }
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
