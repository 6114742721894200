/// SwiGLU gate: h = silu(g) ⊙ u, silu(g) = g·σ(g). Vectorised with `simdExp`.
public enum SwiGLU {
    /// h[i] = silu(g[i])·u[i] for i in lo..<hi.
    public static func forward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>,
                               _ lo: Int, _ hi: Int) {
        var i = lo
        let one = SIMD8<Float>(repeating: 1)
        while i + 8 <= hi {
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            let uv = UnsafeRawPointer(u + i).loadUnaligned(as: SIMD8<Float>.self)
            let sig = one / (one + simdExp(-gv))
            UnsafeMutableRawPointer(h + i).storeBytes(of: gv * sig * uv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < hi {
            let sig = 1 / (1 + fastExp(-g[i]))
            h[i] = g[i] * sig * u[i]
            i += 1
        }
    }

    /// dg = dh·u·σ(g)·(1 + g·(1−σ(g))), du = dh·silu(g), for i in lo..<hi (written, not accumulated).
    public static func backward(_ dh: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                                _ dg: UnsafeMutablePointer<Float>, _ du: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
        var i = lo
        let one = SIMD8<Float>(repeating: 1)
        while i + 8 <= hi {
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            let uv = UnsafeRawPointer(u + i).loadUnaligned(as: SIMD8<Float>.self)
            let dhv = UnsafeRawPointer(dh + i).loadUnaligned(as: SIMD8<Float>.self)
            let sig = one / (one + simdExp(-gv))
            let silu = gv * sig
            UnsafeMutableRawPointer(du + i).storeBytes(of: dhv * silu, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dg + i).storeBytes(of: dhv * uv * sig * (one + gv * (one - sig)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < hi {
            let sig = 1 / (1 + fastExp(-g[i]))
            du[i] = dh[i] * (g[i] * sig)   // same association as the SIMD body: dh·silu
            dg[i] = dh[i] * u[i] * sig * (1 + g[i] * (1 - sig))
            i += 1
        }
    }
}
