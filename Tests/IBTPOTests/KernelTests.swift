import XCTest
import Glibc
@testable import IBTPO

/// Every kernel against a naive double-precision twin written here, on awkward shapes
/// (1, primes, non-multiples of 8/16). Errors are normalised per test (see each comment).
final class KernelTests: XCTestCase {
    static let dims = [1, 7, 17, 33, 65]

    // MARK: - Matmul

    /// A strided (rows × cols) view: kind 0 row-major, 1 column-major (a transpose),
    /// 2 row-major padded, 3 column-major padded, 4 general stride (both strides > 1).
    static func view(_ rows: Int, _ cols: Int, _ kind: Int) -> (rs: Int, cs: Int, size: Int) {
        switch kind % 5 {
        case 0: return (cols, 1, rows * cols)
        case 1: return (1, rows, rows * cols)
        case 2: return (cols + 3, 1, rows * (cols + 3))
        case 3: return (1, rows + 5, cols * (rows + 5))
        default: return (2, 2 * rows + 1, cols * (2 * rows + 1))
        }
    }

    /// Checks C = alpha·A·B + beta·C0 against double; error normalised by
    /// Σ_l |alpha·a_il·b_lj| + |beta·c0_ij| (so the bound is ≈ k·ε_float). Also checks that
    /// elements of C's buffer outside the view are untouched and, for beta = 0, that C is
    /// not read (C0 is NaN there).
    static func checkGemm(_ w: inout Worst, _ m: Int, _ n: Int, _ k: Int, kinds: (Int, Int, Int),
                          alpha: Float, beta: Float, _ rng: inout Rng, label: String,
                          run: (UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, Int, Int,
                                UnsafeMutablePointer<Float>, Int, Int) -> Void) {
        let va = view(m, k, kinds.0), vb = view(k, n, kinds.1), vc = view(m, n, kinds.2)
        let a = randomFloats(va.size, &rng), b = randomFloats(vb.size, &rng)
        let sentinel: Float = 4242.5
        let c = filledFloats(vc.size, sentinel)
        var inView = [Bool](repeating: false, count: vc.size)
        var c0 = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            let idx = i * vc.rs + j * vc.cs
            inView[idx] = true
            c[idx] = beta == 0 ? .nan : rng.nextGaussian()
            c0[i * n + j] = Double(c[idx])
        } }
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        run(a, va.rs, va.cs, b, vb.rs, vb.cs, c, vc.rs, vc.cs)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0, mag = 0.0
            for l in 0..<k {
                let t = Double(alpha) * Double(a[i * va.rs + l * va.cs]) * Double(b[l * vb.rs + j * vb.cs])
                s += t; mag += abs(t)
            }
            if beta != 0 { s += Double(beta) * c0[i * n + j]; mag += abs(Double(beta) * c0[i * n + j]) }
            w.see(Double(c[i * vc.rs + j * vc.cs]), s, denom: max(mag, 1e-30),
                  "\(label) m=\(m) n=\(n) k=\(k) views=\(kinds) alpha=\(alpha) beta=\(beta) C[\(i),\(j)]")
        } }
        for idx in 0..<vc.size where !inView[idx] {
            w.see(Double(c[idx]), Double(sentinel), denom: 1, "\(label) m=\(m) n=\(n) k=\(k) outside-view C buffer[\(idx)]")
        }
    }

    func testMatmulSgemm() {
        var rng = Rng(seed: 11)
        var w = Worst("Matmul.sgemm")
        let alphas: [Float] = [1, -0.5, 1.7], betas: [Float] = [0, 1, 0.3]
        var it = 0
        for m in Self.dims { for n in Self.dims { for k in [0] + Self.dims {
            it += 1
            let kinds = (it % 5, (it / 5) % 5, (it / 25 + it) % 5)
            let alpha = alphas[it % 3], beta = betas[(it / 3) % 3]
            Self.checkGemm(&w, m, n, k, kinds: kinds, alpha: alpha, beta: beta, &rng, label: "Matmul") {
                a, rsa, csa, b, rsb, csb, c, rsc, csc in
                Matmul.sgemm(m, n, k, alpha: alpha, a, rsa, csa, b, rsb, csb, beta: beta, c, rsc, csc)
            }
        } } }
        w.check(1e-5)
    }

    /// Shapes big enough (m·n·k ≥ 64³) that the pool really splits rows or columns, plus small ones.
    static let poolShapes: [(Int, Int, Int)] = [
        (1, 1, 1), (7, 13, 37), (65, 65, 65), (17, 257, 65), (257, 17, 65), (130, 33, 97),
        (33, 130, 97), (1, 4099, 65), (4099, 1, 65), (96, 96, 33), (65, 65, 0),
    ]

    func testThreadPoolSgemm() {
        var rng = Rng(seed: 12)
        var w = Worst("ThreadPool.sgemm")
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for (si, (m, n, k)) in Self.poolShapes.enumerated() {
                for kinds in [(0, 0, 0), (1, 1, 2), (3, 2, 4)] {
                    let alpha: Float = si % 2 == 0 ? 1 : -0.75, beta: Float = [0, 1, 0.5][si % 3]
                    Self.checkGemm(&w, m, n, k, kinds: kinds, alpha: alpha, beta: beta, &rng, label: "pool\(threads)") {
                        a, rsa, csa, b, rsb, csb, c, rsc, csc in
                        pool.sgemm(m, n, k, alpha: alpha, a, rsa, csa, b, rsb, csb, beta: beta, c, rsc, csc)
                    }
                }
            }
        }
        w.check(1e-5)
    }

    func testLinearForwardBackward() {
        var rng = Rng(seed: 13)
        var wf = Worst("linearForward y"), wdx = Worst("linearBackward dx"), wdw = Worst("linearBackward dW")
        var shapes: [(Int, Int, Int)] = []
        for n in [1, 7, 33] { for i in [1, 17, 65] { for o in [1, 13, 65] { shapes.append((n, i, o)) } } }
        shapes += [(130, 65, 130), (257, 33, 64), (64, 97, 300), (300, 65, 7)]
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for (si, (n, inD, outD)) in shapes.enumerated() {
                let x = randomFloats(n * inD, &rng), wt = randomFloats(outD * inD, &rng)
                let y = filledFloats(n * outD, .nan)
                let dy = randomFloats(n * outD, &rng), dx = randomFloats(n * inD, &rng), dw = randomFloats(outD * inD, &rng)
                let dx0 = copyFloats(dx, n * inD), dw0 = copyFloats(dw, outD * inD)
                defer { for p in [x, wt, y, dy, dx, dw, dx0, dw0] { p.deallocate() } }
                let acc = si % 2 == 1
                let tag = "threads=\(threads) n=\(n) in=\(inD) out=\(outD)"
                pool.linearForward(x, wt, y, n: n, inDim: inD, outDim: outD)
                pool.linearBackward(dy, x, wt, dx, dw, n: n, inDim: inD, outDim: outD, accumulateDx: acc)
                for r in 0..<n { for o in 0..<outD {
                    var s = 0.0, mag = 0.0
                    for i in 0..<inD { let t = Double(x[r * inD + i]) * Double(wt[o * inD + i]); s += t; mag += abs(t) }
                    wf.see(Double(y[r * outD + o]), s, denom: max(mag, 1e-30), "\(tag) y[\(r),\(o)]")
                } }
                for r in 0..<n { for i in 0..<inD {
                    var s = acc ? Double(dx0[r * inD + i]) : 0, mag = abs(s)
                    for o in 0..<outD { let t = Double(dy[r * outD + o]) * Double(wt[o * inD + i]); s += t; mag += abs(t) }
                    wdx.see(Double(dx[r * inD + i]), s, denom: max(mag, 1e-30), "\(tag) acc=\(acc) dx[\(r),\(i)]")
                } }
                for o in 0..<outD { for i in 0..<inD {
                    var s = Double(dw0[o * inD + i]), mag = abs(s)
                    for r in 0..<n { let t = Double(dy[r * outD + o]) * Double(x[r * inD + i]); s += t; mag += abs(t) }
                    wdw.see(Double(dw[o * inD + i]), s, denom: max(mag, 1e-30), "\(tag) dW[\(o),\(i)]")
                } }
            }
        }
        wf.check(1e-5); wdx.check(1e-5); wdw.check(1e-5)
    }

    // MARK: - RMSNorm

    func testRMSNorm() {
        var rng = Rng(seed: 21)
        var wy = Worst("RMSNorm.forward y"), wr = Worst("RMSNorm.forward rstd")
        var wdx = Worst("RMSNorm.backwardInput dx"), wdw = Worst("RMSNorm.backwardWeight dw")
        let rows = 7, eps: Float = 1e-5
        for c in Self.dims + [2, 64, 129] {
            for acc in [false, true] {
                let x = randomFloats(rows * c, &rng, scale: 2), wt = randomFloats(c, &rng, scale: 0.5)
                for j in 0..<c { wt[j] += 1 }
                if c > 1 { for j in 0..<c { x[3 * c + j] *= 1e-3 } }   // a row with small rms (eps matters)
                let y = filledFloats(rows * c, .nan), rstd = filledFloats(rows, .nan)
                let dy = randomFloats(rows * c, &rng), dx = randomFloats(rows * c, &rng), dw = randomFloats(c, &rng)
                let dx0 = copyFloats(dx, rows * c), dw0 = copyFloats(dw, c)
                defer { for p in [x, wt, y, rstd, dy, dx, dw, dx0, dw0] { p.deallocate() } }
                // Split rows and columns the way the pool would.
                RMSNorm.forward(x, wt, y, rstd, c: c, eps: eps, rows: 0, 3)
                RMSNorm.forward(x, wt, y, rstd, c: c, eps: eps, rows: 3, rows)
                RMSNorm.backwardInput(dy, x, wt, rstd, dx, c: c, rows: 0, 4, accumulate: acc)
                RMSNorm.backwardInput(dy, x, wt, rstd, dx, c: c, rows: 4, rows, accumulate: acc)
                RMSNorm.backwardWeight(dy, x, rstd, dw, c: c, rows: rows, cols: 0, c / 2)
                RMSNorm.backwardWeight(dy, x, rstd, dw, c: c, rows: rows, cols: c / 2, c)
                var dwRef = (0..<c).map { Double(dw0[$0]) }
                for r in 0..<rows {
                    let xr = (0..<c).map { Double(x[r * c + $0]) }
                    let ms = xr.reduce(0) { $0 + $1 * $1 } / Double(c)
                    let s = 1 / (ms + Double(eps)).squareRoot()
                    wr.rel(Double(rstd[r]), s, floor: 1e-30, "c=\(c) rstd[\(r)]")
                    // y_j = x_j·s·w_j;  dx_i = s·w_i·dy_i − (s³/c)·x_i·Σ_j dy_j·w_j·x_j;  dw_j += Σ_r dy_j·x_j·s
                    var dot = 0.0
                    for j in 0..<c { dot += Double(dy[r * c + j]) * Double(wt[j]) * xr[j] }
                    for j in 0..<c {
                        let yj = xr[j] * s * Double(wt[j])
                        wy.see(Double(y[r * c + j]), yj, denom: max(abs(yj), 1e-3 * abs(Double(wt[j]))), "c=\(c) y[\(r),\(j)]")
                        let g = s * Double(wt[j]) * Double(dy[r * c + j]) - s * s * s / Double(c) * xr[j] * dot
                        let base = acc ? Double(dx0[r * c + j]) : 0
                        // Scale: the two terms' magnitudes (cancellation-aware).
                        let mag = abs(s * Double(wt[j]) * Double(dy[r * c + j])) + abs(s * s * s / Double(c) * xr[j] * dot) + abs(base)
                        wdx.see(Double(dx[r * c + j]), base + g, denom: max(mag, 1e-30), "c=\(c) acc=\(acc) dx[\(r),\(j)]")
                        dwRef[j] += Double(dy[r * c + j]) * xr[j] * s
                    }
                }
                for j in 0..<c {
                    var mag = abs(Double(dw0[j]))
                    for r in 0..<rows { mag += abs(Double(dy[r * c + j]) * Double(x[r * c + j]) * Double(rstd[r])) }
                    wdw.see(Double(dw[j]), dwRef[j], denom: max(mag, 1e-30), "c=\(c) dw[\(j)]")
                }
            }
        }
        wy.check(2e-6); wr.check(2e-6); wdx.check(1e-5); wdw.check(1e-5)
    }

    /// The double formula used above, checked once against double finite differences.
    func testRMSNormReferenceGradientIsRight() {
        var rng = Rng(seed: 22)
        let c = 7, eps = 1e-5
        let x = (0..<c).map { _ in Double(rng.nextGaussian()) }, w = (0..<c).map { _ in 1 + Double(rng.nextGaussian()) * 0.3 }
        let dy = (0..<c).map { _ in Double(rng.nextGaussian()) }
        func L(_ x: [Double]) -> Double {
            let s = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(c) + eps).squareRoot()
            return (0..<c).reduce(0) { $0 + dy[$1] * x[$1] * s * w[$1] }
        }
        let s = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(c) + eps).squareRoot()
        var dot = 0.0
        for j in 0..<c { dot += dy[j] * w[j] * x[j] }
        var wk = Worst("RMSNorm double formula vs FD")
        for i in 0..<c {
            var xp = x, xm = x
            xp[i] += 1e-6; xm[i] -= 1e-6
            let fd = (L(xp) - L(xm)) / 2e-6
            wk.sym(s * w[i] * dy[i] - s * s * s / Double(c) * x[i] * dot, fd, floor: 1e-6, "dx[\(i)]")
        }
        wk.check(1e-7)
    }

    // MARK: - RoPE

    func testRope() {
        var rng = Rng(seed: 31)
        var wf = Worst("Rope.apply forward vs HF rotate-half"), wi = Worst("Rope.apply inverse vs transpose")
        var wid = Worst("Rope inverse∘forward = identity"), wt = Worst("Rope tables")
        let theta: Float = 10000
        for d in [2, 6, 16, 64] {
            let maxSeq = 1030, half = d / 2, heads = 3
            let cosT = filledFloats(maxSeq * half, .nan), sinT = filledFloats(maxSeq * half, .nan)
            defer { cosT.deallocate(); sinT.deallocate() }
            Rope.fillTables(cos: cosT, sin: sinT, maxSeq: maxSeq, headDim: d, theta: theta)
            for pos in [0, 1, 2, 7, 13, 37, 100, 511, 1029] {
                // HF: inv_freq = 1 / theta^(arange(0, d, 2)/d); freqs = pos·inv_freq;
                // emb = cat(freqs, freqs); out = x·cos(emb) + rotate_half(x)·sin(emb),
                // rotate_half(x) = cat(−x[half:], x[:half]).
                var cosE = [Double](repeating: 0, count: d), sinE = [Double](repeating: 0, count: d)
                for j in 0..<half {
                    let f = Double(pos) / pow(Double(theta), Double(2 * j) / Double(d))
                    cosE[j] = cos(f); cosE[j + half] = cos(f); sinE[j] = sin(f); sinE[j + half] = sin(f)
                    wt.see(Double(cosT[pos * half + j]), cos(f), denom: 1, "d=\(d) cos[pos=\(pos), \(j)]")
                    wt.see(Double(sinT[pos * half + j]), sin(f), denom: 1, "d=\(d) sin[pos=\(pos), \(j)]")
                }
                let x = randomFloats(heads * d, &rng), v = copyFloats(x, heads * d)
                defer { x.deallocate(); v.deallocate() }
                Rope.apply(v, heads: heads, headDim: d, pos: pos, cos: cosT, sin: sinT)
                var norm = 0.0
                for i in 0..<heads * d { norm = max(norm, abs(Double(x[i]))) }
                for h in 0..<heads {
                    for j in 0..<d {
                        let xj = Double(x[h * d + j])
                        let rot = j < half ? -Double(x[h * d + j + half]) : Double(x[h * d + j - half])
                        let want = xj * cosE[j] + rot * sinE[j]
                        wf.see(Double(v[h * d + j]), want, denom: norm, "d=\(d) pos=\(pos) head=\(h) [\(j)]")
                    }
                }
                // inverse applied to y equals Rᵀ y (R is orthogonal, so Rᵀ = R(−pos)).
                let y = randomFloats(heads * d, &rng), u = copyFloats(y, heads * d)
                defer { y.deallocate(); u.deallocate() }
                Rope.apply(u, heads: heads, headDim: d, pos: pos, cos: cosT, sin: sinT, inverse: true)
                var ny = 0.0
                for i in 0..<heads * d { ny = max(ny, abs(Double(y[i]))) }
                for h in 0..<heads {
                    for j in 0..<d {
                        // (Rᵀy)_j = Σ_i R_ij y_i with R_jj = cos_j, R_{j,j+half} = −sin_j, R_{j+half,j} = sin_j.
                        let yj = Double(y[h * d + j])
                        let want = j < half ? yj * cosE[j] + Double(y[h * d + j + half]) * sinE[j]
                                            : yj * cosE[j] - Double(y[h * d + j - half]) * sinE[j]
                        wi.see(Double(u[h * d + j]), want, denom: ny, "d=\(d) pos=\(pos) head=\(h) [\(j)]")
                    }
                }
                Rope.apply(v, heads: heads, headDim: d, pos: pos, cos: cosT, sin: sinT, inverse: true)
                for i in 0..<heads * d { wid.see(Double(v[i]), Double(x[i]), denom: norm, "d=\(d) pos=\(pos) [\(i)]") }
            }
        }
        wt.check(1e-7); wf.check(1e-6); wi.check(1e-6); wid.check(1e-6)
    }

    // MARK: - Attention

    /// Naive double causal GQA attention: returns P (B,H,T,T) and O (B·T, H·d).
    static func refAttention(_ s: AttentionShape, _ q: [Double], _ k: [Double], _ v: [Double]) -> (p: [Double], o: [Double]) {
        let T = s.seq, d = s.headDim, H = s.heads, KV = s.kvHeads, rep = H / KV
        let scale = 1 / Double(d).squareRoot()
        var p = [Double](repeating: 0, count: s.batch * H * T * T), o = [Double](repeating: 0, count: s.batch * T * H * d)
        for b in 0..<s.batch { for h in 0..<H {
            let g = h / rep
            for i in 0..<T {
                var sc = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    var dot = 0.0
                    for e in 0..<d { dot += q[(b * T + i) * H * d + h * d + e] * k[(b * T + j) * KV * d + g * d + e] }
                    sc[j] = dot * scale
                }
                let mx = sc.max()!
                let z = sc.reduce(0) { $0 + exp($1 - mx) }
                for j in 0...i { p[((b * H + h) * T + i) * T + j] = exp(sc[j] - mx) / z }
                for e in 0..<d {
                    var acc = 0.0
                    for j in 0...i { acc += p[((b * H + h) * T + i) * T + j] * v[(b * T + j) * KV * d + g * d + e] }
                    o[(b * T + i) * H * d + h * d + e] = acc
                }
            }
        } }
        return (p, o)
    }

    /// Analytic double gradient of Σ dO⊙O with respect to q, k, v.
    static func refAttentionGrad(_ s: AttentionShape, _ q: [Double], _ k: [Double], _ v: [Double], _ p: [Double],
                                 _ dO: [Double]) -> (dq: [Double], dk: [Double], dv: [Double]) {
        let T = s.seq, d = s.headDim, H = s.heads, KV = s.kvHeads, rep = H / KV
        let scale = 1 / Double(d).squareRoot()
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count)
        var dv = [Double](repeating: 0, count: v.count)
        for b in 0..<s.batch { for h in 0..<H {
            let g = h / rep
            for i in 0..<T {
                let qi = (b * T + i) * H * d + h * d
                var dp = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    let kj = (b * T + j) * KV * d + g * d
                    let pij = p[((b * H + h) * T + i) * T + j]
                    for e in 0..<d { dv[kj + e] += pij * dO[qi + e]; dp[j] += dO[qi + e] * v[kj + e] }
                }
                var sum = 0.0
                for j in 0...i { sum += p[((b * H + h) * T + i) * T + j] * dp[j] }
                for j in 0...i {
                    let kj = (b * T + j) * KV * d + g * d
                    let ds = p[((b * H + h) * T + i) * T + j] * (dp[j] - sum) * scale
                    for e in 0..<d { dq[qi + e] += ds * k[kj + e]; dk[kj + e] += ds * q[qi + e] }
                }
            }
        } }
        return (dq, dk, dv)
    }

    func testAttentionForwardBackward() {
        var rng = Rng(seed: 41)
        var wp = Worst("Attention.forward P"), wo = Worst("Attention.forward O")
        var wq = Worst("Attention.backward dq"), wk = Worst("Attention.backward dk"), wv = Worst("Attention.backward dv")
        for (H, KV) in [(4, 2), (4, 1), (4, 4), (3, 1)] {
            for d in [2, 6, 16] { for T in [1, 7, 17] {
                let s = AttentionShape(batch: 2, seq: T, heads: H, kvHeads: KV, headDim: d)
                let nq = s.batch * T * H * d, nk = s.batch * T * KV * d, np = s.batch * H * T * T
                let q = randomFloats(nq, &rng, scale: 1.5), k = randomFloats(nk, &rng, scale: 1.5), v = randomFloats(nk, &rng)
                let p = filledFloats(np, .nan), o = filledFloats(nq, .nan), dO = randomFloats(nq, &rng)
                let dp = filledFloats(np, 777), dq = filledFloats(nq, 777), dk = filledFloats(nk, 777), dv = filledFloats(nk, 777)
                defer { for b in [q, k, v, p, o, dO, dp, dq, dk, dv] { b.deallocate() } }
                let mid = s.units / 2
                Attention.forward(s, q, k, v, p, o, units: 0, mid)
                Attention.forward(s, q, k, v, p, o, units: mid, s.units)
                Attention.backward(s, q, k, v, p, dO, dp, dq, dk, dv, units: mid, s.units)
                Attention.backward(s, q, k, v, p, dO, dp, dq, dk, dv, units: 0, mid)
                let qd = (0..<nq).map { Double(q[$0]) }, kd = (0..<nk).map { Double(k[$0]) }, vd = (0..<nk).map { Double(v[$0]) }
                let dOd = (0..<nq).map { Double(dO[$0]) }
                let ref = Self.refAttention(s, qd, kd, vd)
                let g = Self.refAttentionGrad(s, qd, kd, vd, ref.p, dOd)
                let tag = "H=\(H) KV=\(KV) d=\(d) T=\(T)"
                for i in 0..<np { wp.see(Double(p[i]), ref.p[i], denom: 1, "\(tag) P[\(i)]") }
                func scaleOf(_ a: [Double]) -> Double { max(1e-30, a.reduce(0) { max($0, abs($1)) }) }
                let so = scaleOf(ref.o), sq = scaleOf(g.dq), sk = scaleOf(g.dk), sv = scaleOf(g.dv)
                for i in 0..<nq { wo.see(Double(o[i]), ref.o[i], denom: so, "\(tag) O[\(i)]") }
                for i in 0..<nq { wq.see(Double(dq[i]), g.dq[i], denom: sq, "\(tag) dq[\(i)]") }
                for i in 0..<nk { wk.see(Double(dk[i]), g.dk[i], denom: sk, "\(tag) dk[\(i)]") }
                for i in 0..<nk { wv.see(Double(dv[i]), g.dv[i], denom: sv, "\(tag) dv[\(i)]") }
            } }
        }
        // Errors are relative to the largest magnitude of each output tensor.
        wp.check(2e-6); wo.check(5e-6); wq.check(2e-5); wk.check(2e-5); wv.check(5e-6)
    }

    /// The double analytic attention gradient used above, against double finite differences.
    func testAttentionReferenceGradientIsRight() {
        var rng = Rng(seed: 42)
        let s = AttentionShape(batch: 1, seq: 5, heads: 4, kvHeads: 2, headDim: 2)
        let nq = 5 * 4 * 2, nk = 5 * 2 * 2
        var q = (0..<nq).map { _ in Double(rng.nextGaussian()) }, k = (0..<nk).map { _ in Double(rng.nextGaussian()) }
        var v = (0..<nk).map { _ in Double(rng.nextGaussian()) }
        let dO = (0..<nq).map { _ in Double(rng.nextGaussian()) }
        func L(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            let o = Self.refAttention(s, q, k, v).o
            return zip(o, dO).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let g = Self.refAttentionGrad(s, q, k, v, Self.refAttention(s, q, k, v).p, dO)
        var w = Worst("attention double formula vs FD")
        let h = 1e-6
        for i in 0..<nq { let o = q[i]; q[i] = o + h; let a = L(q, k, v); q[i] = o - h; let b = L(q, k, v); q[i] = o
            w.sym(g.dq[i], (a - b) / (2 * h), floor: 1e-6, "dq[\(i)]") }
        for i in 0..<nk { let o = k[i]; k[i] = o + h; let a = L(q, k, v); k[i] = o - h; let b = L(q, k, v); k[i] = o
            w.sym(g.dk[i], (a - b) / (2 * h), floor: 1e-6, "dk[\(i)]") }
        for i in 0..<nk { let o = v[i]; v[i] = o + h; let a = L(q, k, v); v[i] = o - h; let b = L(q, k, v); v[i] = o
            w.sym(g.dv[i], (a - b) / (2 * h), floor: 1e-6, "dv[\(i)]") }
        w.check(1e-7)
    }

    // MARK: - SwiGLU

    func testSwiGLU() {
        var rng = Rng(seed: 51)
        var wh = Worst("SwiGLU.forward h"), wg = Worst("SwiGLU.backward dg"), wu = Worst("SwiGLU.backward du")
        for n in Self.dims + [8, 16, 100] {
            let g = randomFloats(n, &rng, scale: 4), u = randomFloats(n, &rng), dh = randomFloats(n, &rng)
            if n > 7 { g[1] = -95; g[2] = 95; g[3] = 0; g[4] = -20; g[5] = 30 }   // saturation and exp under/overflow
            let h = filledFloats(n, .nan), dg = filledFloats(n, .nan), du = filledFloats(n, .nan)
            defer { for p in [g, u, dh, h, dg, du] { p.deallocate() } }
            let cut = n / 3   // split like the pool: tails and SIMD bodies at odd offsets
            SwiGLU.forward(g, u, h, 0, cut); SwiGLU.forward(g, u, h, cut, n)
            SwiGLU.backward(dh, g, u, dg, du, 0, cut); SwiGLU.backward(dh, g, u, dg, du, cut, n)
            for i in 0..<n {
                let gd = Double(g[i]), ud = Double(u[i]), dhd = Double(dh[i])
                let sig = 1 / (1 + exp(-gd)), silu = gd * sig
                wh.see(Double(h[i]), silu * ud, denom: max(abs(silu * ud), 1e-6), "n=\(n) h[\(i)] g=\(gd)")
                wu.see(Double(du[i]), dhd * silu, denom: max(abs(dhd * silu), 1e-6), "n=\(n) du[\(i)] g=\(gd)")
                let dgr = dhd * ud * (sig + gd * sig * (1 - sig))
                let mag = abs(dhd * ud) * (sig + abs(gd) * sig * (1 - sig))
                wg.see(Double(dg[i]), dgr, denom: max(mag, 1e-6), "n=\(n) dg[\(i)] g=\(gd)")
            }
        }
        wh.check(2e-6); wu.check(2e-6); wg.check(5e-6)
    }

    // MARK: - LM head

    func testLMHead() {
        var rng = Rng(seed: 61)
        var wl = Worst("LMHead.forward lse"), wlp = Worst("LMHead.forward logp"), wh = Worst("LMHead.forward entropy")
        var wd = Worst("LMHead.backward dlogits (coef only)"), we = Worst("LMHead.backward dlogits (coef + entropy)")
        for V in Self.dims + [2, 8, 259] {
            let rows = 6
            let logits = randomFloats(rows * V, &rng, scale: 3)
            if V > 3 { logits[1 * V + 2] = 60; logits[2 * V + 1] = -80 }   // peaked row, very negative logit
            let targets = UnsafeMutablePointer<Int32>.allocate(capacity: rows)
            for r in 0..<rows { targets[r] = Int32(rng.nextInt(V)) }
            targets[4] = -1                        // no target
            targets[1] = V > 3 ? 2 : 0
            let coef = randomFloats(rows, &rng), ent = randomFloats(rows, &rng)
            coef[5] = 0; ent[5] = 0                // both zero: gradient row must be exactly zero
            let lse = filledFloats(rows, .nan), logp = filledFloats(rows, .nan), entropy = filledFloats(rows, .nan)
            let work1 = copyFloats(logits, rows * V), work2 = copyFloats(logits, rows * V)
            defer { for p in [logits, coef, ent, lse, logp, entropy, work1, work2] { p.deallocate() }; targets.deallocate() }
            LMHead.forward(logits, vocab: V, targets, lse, logp, entropy, rows: 0, 2)
            LMHead.forward(logits, vocab: V, targets, lse, logp, entropy, rows: 2, rows)
            LMHead.backward(work1, vocab: V, targets, lse, coef, nil, nil, rows: 0, rows)
            LMHead.backward(work2, vocab: V, targets, lse, coef, ent, entropy, rows: 0, 3)
            LMHead.backward(work2, vocab: V, targets, lse, coef, ent, entropy, rows: 3, rows)
            for r in 0..<rows {
                let x = (0..<V).map { Double(logits[r * V + $0]) }
                let mx = x.max()!
                let z = x.reduce(0) { $0 + exp($1 - mx) }
                let l = mx + log(z)
                let p = x.map { exp($0 - l) }
                var H = 0.0
                for j in 0..<V where p[j] > 0 { H -= p[j] * log(p[j]) }
                let t = Int(targets[r])
                let hasT = t >= 0 && t < V
                let lpRef = hasT ? x[t] - l : 0
                let tag = "V=\(V) row=\(r)"
                wl.see(Double(lse[r]), l, denom: max(1, abs(l)), "\(tag) lse")
                wlp.see(Double(logp[r]), lpRef, denom: max(1, abs(lpRef)), "\(tag) logp")
                wh.see(Double(entropy[r]), H, denom: max(1, H), "\(tag) entropy")
                // L = c·logp + e·H:  ∂logp/∂x_j = 1[j=t] − p_j (0 without target);
                //                    ∂H/∂x_j = −p_j·(log p_j + H).
                let c = Double(coef[r]), e = Double(ent[r])
                for j in 0..<V {
                    let dlp = hasT ? (j == t ? 1 : 0) - p[j] : 0
                    let dH = p[j] > 0 ? -p[j] * ((x[j] - l) + H) : 0
                    wd.see(Double(work1[r * V + j]), c * dlp, denom: max(abs(c), 1e-30), "\(tag) dlogit[\(j)]")
                    we.see(Double(work2[r * V + j]), c * dlp + e * dH, denom: max(abs(c) + abs(e), 1e-30),
                           "\(tag) dlogit[\(j)]")
                }
            }
        }
        wl.check(2e-6); wlp.check(5e-6); wh.check(5e-6); wd.check(2e-6); we.check(5e-6)
    }

    /// The double LM-head gradient formulas used above, against double finite differences.
    func testLMHeadReferenceGradientIsRight() {
        var rng = Rng(seed: 62)
        let V = 7, t = 3, c = 0.7, e = -1.3
        var x = (0..<V).map { _ in Double(rng.nextGaussian()) * 2 }
        func L(_ x: [Double]) -> Double {
            let l = log(x.reduce(0) { $0 + exp($1) })
            var H = 0.0
            for xi in x { H -= exp(xi - l) * (xi - l) }
            return c * (x[t] - l) + e * H
        }
        let l = log(x.reduce(0) { $0 + exp($1) })
        let p = x.map { exp($0 - l) }
        var H = 0.0
        for j in 0..<V { H -= p[j] * log(p[j]) }
        var w = Worst("LM head double formula vs FD")
        for j in 0..<V {
            let an = c * ((j == t ? 1 : 0) - p[j]) + e * (-p[j] * (log(p[j]) + H))
            let o = x[j]; x[j] = o + 1e-6; let a = L(x); x[j] = o - 1e-6; let b = L(x); x[j] = o
            w.sym(an, (a - b) / 2e-6, floor: 1e-6, "dx[\(j)]")
        }
        w.check(1e-7)
    }

    // MARK: - AdamW and schedule

    /// One step at a time from the library's own previous state (so float rounding does not
    /// accumulate), over several steps; errors are normalised by the magnitudes of the terms.
    func testAdamWUpdate() {
        var rng = Rng(seed: 71)
        var w = Worst("AdamW.update p"), wm = Worst("AdamW.update m"), wv = Worst("AdamW.update v")
        var drift = Worst("AdamW 6-step drift of p vs free-running double twin (info, in units of lr)")
        var hyper = AdamWHyper()
        hyper.beta1 = 0.9; hyper.beta2 = 0.95; hyper.eps = 1e-8; hyper.weightDecay = 0.1
        let b1 = Double(hyper.beta1), b2 = Double(hyper.beta2), eps = Double(hyper.eps)
        for n in Self.dims {
            for decay in [false, true] {
                let p = randomFloats(n, &rng), m = filledFloats(n, 0), v = filledFloats(n, 0)
                defer { p.deallocate(); m.deallocate(); v.deallocate() }
                var free = (0..<n).map { Double(p[$0]) }, fm = [Double](repeating: 0, count: n), fv = fm
                let lr = 3e-3, scale = 0.8
                for step in 1...6 {
                    let g = randomFloats(n, &rng, scale: step == 3 ? 1e-3 : 1)
                    let p0 = copyFloats(p, n), m0 = copyFloats(m, n), v0 = copyFloats(v, n)
                    defer { g.deallocate(); p0.deallocate(); m0.deallocate(); v0.deallocate() }
                    let c1 = Float(1 - pow(b1, Double(step))), c2 = Float(1 - pow(b2, Double(step)))
                    AdamW.update(p, g, m, v, 0, n / 2, lr: Float(lr), hyper: hyper, decay: decay,
                                 c1: c1, c2: c2, gradScale: Float(scale))
                    AdamW.update(p, g, m, v, n / 2, n, lr: Float(lr), hyper: hyper, decay: decay,
                                 c1: c1, c2: c2, gradScale: Float(scale))
                    let wd = decay ? Double(hyper.weightDecay) : 0
                    for i in 0..<n {
                        let gi = Double(g[i]) * scale
                        let md = b1 * Double(m0[i]) + (1 - b1) * gi
                        let vd = b2 * Double(v0[i]) + (1 - b2) * gi * gi
                        let upd = (md / Double(c1)) / ((vd / Double(c2)).squareRoot() + eps) + wd * Double(p0[i])
                        let pd = Double(p0[i]) - lr * upd
                        let tag = "n=\(n) decay=\(decay) step=\(step) [\(i)]"
                        w.see(Double(p[i]), pd, denom: abs(Double(p0[i])) + lr * abs(upd), tag)
                        wm.see(Double(m[i]), md, denom: abs(b1 * Double(m0[i])) + abs((1 - b1) * gi), tag)
                        wv.see(Double(v[i]), vd, denom: b2 * Double(v0[i]) + (1 - b2) * gi * gi + 1e-30, tag)
                        fm[i] = b1 * fm[i] + (1 - b1) * gi
                        fv[i] = b2 * fv[i] + (1 - b2) * gi * gi
                        free[i] -= lr * ((fm[i] / Double(c1)) / ((fv[i] / Double(c2)).squareRoot() + eps) + wd * free[i])
                        drift.see(Double(p[i]), free[i], denom: lr, tag)
                    }
                }
            }
        }
        w.check(3e-7); wm.check(3e-7); wv.check(3e-7)
        // Free-running drift is dominated by storing p in float (ulp(2) ≈ 2.4e-7 ≈ 1e-4·lr).
        drift.check(1e-3)
    }

    func testLRSchedule() {
        var w = Worst("LRSchedule.at")
        let cases: [(Float, Float, Int, Int)] = [(1e-3, 0, 0, 0), (1e-3, 1e-4, 10, 100), (3e-4, 3e-5, 0, 50),
                                                  (1e-2, 0, 7, 7), (1e-2, 1e-3, 5, 3), (2e-3, 2e-4, 1, 13)]
        for (lr, minLR, warmup, total) in cases {
            let s = LRSchedule(lr: lr, minLR: minLR, warmup: warmup, total: total)
            for step in 0..<(total + warmup + 20) {
                let want: Double
                if warmup > 0 && step < warmup {
                    want = Double(lr) * Double(step + 1) / Double(warmup)
                } else if total <= warmup {
                    want = Double(lr)
                } else {
                    let t = min(1.0, Double(step - warmup) / Double(total - warmup))
                    want = Double(minLR) + (Double(lr) - Double(minLR)) * 0.5 * (1 + cos(Double.pi * t))
                }
                w.rel(Double(s.at(step)), want, floor: 1e-12, "lr=\(lr) min=\(minLR) warmup=\(warmup) total=\(total) step=\(step)")
            }
        }
        w.check(1e-6)
    }

    // MARK: - exp

    func testFastExp() {
        var w = Worst("simdExp relative error on [-87, 88]"), wl = Worst("fastExp == simdExp lane")
        let n = 1_000_003
        var i = 0
        while i < n {
            var xs = SIMD8<Float>()
            for l in 0..<8 { xs[l] = Float(-87.0 + 175.0 * Double(min(i + l, n - 1)) / Double(n - 1)) }
            let ys = simdExp(xs)
            for l in 0..<8 {
                let x = xs[l]
                w.rel(Double(ys[l]), exp(Double(x)), floor: 0, "x=\(x)")
                if l == 0 || l == 5 { wl.see(Double(fastExp(x)), Double(ys[l]), denom: 1, "x=\(x)") }
            }
            i += 8
        }
        // Integers and halves exactly (n and r boundaries), and tiny arguments.
        for x in stride(from: -87.0, through: 88.0, by: 0.5) {
            w.rel(Double(fastExp(Float(x))), exp(Double(Float(x))), floor: 0, "x=\(x)")
        }
        for x: Float in [0, -0.0, 1e-10, -1e-10, 1e-30, Float.leastNonzeroMagnitude] {
            w.rel(Double(fastExp(x)), exp(Double(x)), floor: 0, "x=\(x)")
        }
        w.check(4e-7); wl.check(1e-300)
        var edges = Worst("exp edge cases")
        for x: Float in [-87.4, -87.5, -88, -100, -1e4, -1e30, -.greatestFiniteMagnitude, -.infinity] {
            edges.see(Double(fastExp(x)), 0, denom: 1, "fastExp(\(x))")
            edges.see(Double(simdExp(SIMD8(repeating: x))[3]), 0, denom: 1, "simdExp(\(x))")
        }
        for x: Float in [88.8, 88.9, 89, 100, 1e4, 1e30, .greatestFiniteMagnitude, .infinity] {
            edges.see(fastExp(x) == .infinity ? 1 : 0, 1, denom: 1, "fastExp(\(x)) = \(fastExp(x)) should be inf")
            edges.see(simdExp(SIMD8(repeating: x))[6] == .infinity ? 1 : 0, 1, denom: 1, "simdExp(\(x)) should be inf")
        }
        for x: Float in [.nan, -.nan, Float(nan: 5, signaling: false)] {
            edges.see(fastExp(x).isNaN ? 1 : 0, 1, denom: 1, "fastExp(nan) should be NaN")
        }
        var mixed = SIMD8<Float>(-100, .nan, 0, 1, 89, -87.2, 88.5, .infinity)
        mixed = simdExp(mixed)
        edges.see(Double(mixed[0]), 0, denom: 1, "mixed lane 0")
        edges.see(mixed[1].isNaN ? 1 : 0, 1, denom: 1, "mixed lane 1 NaN")
        edges.see(Double(mixed[2]), 1, denom: 1, "mixed lane 2")
        edges.rel(Double(mixed[3]), exp(1.0), floor: 0, "mixed lane 3")
        edges.see(mixed[4] == .infinity ? 1 : 0, 1, denom: 1, "mixed lane 4 inf")
        edges.rel(Double(mixed[5]), exp(Double(Float(-87.2))), floor: 0, "mixed lane 5")
        edges.rel(Double(mixed[6]), exp(Double(Float(88.5))), floor: 0, "mixed lane 6")
        edges.see(mixed[7] == .infinity ? 1 : 0, 1, denom: 1, "mixed lane 7 inf")
        edges.check(4e-7)
    }
}
