import Glibc

/// RMSNorm over rows of length `c`: y = x / sqrt(mean(x²) + eps) ⊙ w.
public enum RMSNorm {
    /// Rows `r0..<r1` of x(·, c) → y(·, c); stores 1/rms per row in `rstd`.
    public static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               _ rstd: UnsafeMutablePointer<Float>, c: Int, eps: Float, rows r0: Int, _ r1: Int) {
        for r in r0..<r1 {
            let xr = x + r * c, yr = y + r * c
            let ss = sumSquares(xr, c)
            let s = 1 / (ss / Float(c) + eps).squareRoot()
            rstd[r] = s
            for j in 0..<c { yr[j] = xr[j] * s * w[j] }
        }
    }

    /// dx for rows r0..<r1 (written, not accumulated): dx = s·(w⊙dy − x̂·mean(w⊙dy⊙x̂)), x̂ = x·s.
    public static func backwardInput(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                     _ rstd: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                     c: Int, rows r0: Int, _ r1: Int, accumulate: Bool) {
        for r in r0..<r1 {
            let xr = x + r * c, dyr = dy + r * c, dxr = dx + r * c
            let s = rstd[r]
            let m = dot3(w, dyr, xr, c) * s * s / Float(c)
            if accumulate {
                for j in 0..<c { dxr[j] += s * (w[j] * dyr[j] - xr[j] * m) }
            } else {
                for j in 0..<c { dxr[j] = s * (w[j] * dyr[j] - xr[j] * m) }
            }
        }
    }

    /// dw[j] += Σ_rows dy[r,j]·x[r,j]·s[r] for columns j0..<j1 (rows summed in order, so the
    /// result does not depend on how columns are split across threads).
    public static func backwardWeight(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                                      _ dw: UnsafeMutablePointer<Float>, c: Int, rows: Int, cols j0: Int, _ j1: Int) {
        for r in 0..<rows {
            let xr = x + r * c, dyr = dy + r * c
            let s = rstd[r]
            for j in j0..<j1 { dw[j] += dyr[j] * xr[j] * s }
        }
    }

    @inline(__always)
    static func sumSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            let v0 = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            let v1 = UnsafeRawPointer(p + i + 8).loadUnaligned(as: SIMD8<Float>.self)
            a0.addProduct(v0, v0); a1.addProduct(v1, v1)
            i += 16
        }
        var s = (a0 + a1).sum()
        while i < n { s += p[i] * p[i]; i += 1 }
        return s
    }
}
