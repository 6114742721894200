import Glibc
import XCTest
@testable import IBTPO

/// Every sgemm kernel this CPU runs (BLIS's own, ours) against a naive double-precision
/// product, their determinism, and checkpoints crossing kernels. Kernels the CPU lacks are
/// skipped with the reason printed.
final class MicroKernelTests: XCTestCase {
    /// The kernels to test here, printing why any is skipped.
    func runnableKernels() -> [MatmulKernel] {
        print("CPU: \(MatmulKernel.cpu); automatic kernel: \(MatmulKernel.automatic.name)")
        var ks: [MatmulKernel] = []
        for k in MatmulKernel.allCases where k != .auto {
            if k.isSupported { ks.append(k) } else { print("skip kernel \(k.name): this CPU or OS lacks AVX-512 F/DQ/BW/VL") }
        }
        return ks
    }

    /// Runs `body` with `kernel` forced, then restores the kernel that was in use.
    func with(_ kernel: MatmulKernel, _ body: () throws -> Void) rethrows {
        let before = MatmulKernel.current
        XCTAssertTrue(MatmulKernel.select(kernel), "select \(kernel.name)")
        defer { MatmulKernel.select(before) }
        try body()
    }

    /// One layout of a matrix of r×c elements: (row stride, column stride, elements needed).
    static func layouts(_ r: Int, _ c: Int) -> [(String, Int, Int, Int)] {
        [("row", c, 1, r * c), ("col", 1, r, r * c), ("rowpad", c + 3, 1, r * (c + 3)),
         ("gen", 2, 2 * r + 1, (2 * r + 1) * c)]
    }

    func testEveryKernelMatchesDoubleOnEdgeShapesLayoutsAlphaBeta() {
        // Shapes 1, primes, non-multiples of MR = 16 and NR = 24, k = 1 (these take BLIS's
        // small-matrix "sup" path), and shapes whose every side is >= 32 and volume >= 96³, so
        // that with our kernel BLIS packs and calls the micro-kernel, with edge tiles in m and n;
        // 513×203×241 also passes zen3's own sup thresholds (512, 200, 240) for BLIS's kernel.
        let shapes = [(1, 1, 1), (1, 13, 7), (13, 1, 5), (31, 11, 1), (32, 12, 16), (33, 13, 17), (97, 61, 1),
                      (67, 29, 383), (67, 37, 383), (130, 50, 200), (33, 35, 1000), (101, 47, 411), (96, 96, 96),
                      (47, 73, 129), (513, 203, 241)]
        let scalars: [(Float, Float)] = [(1, 0), (0.5, 1), (-1.25, -0.75)]
        for kernel in runnableKernels() {
            with(kernel) {
                var worst = Worst("\(kernel.name) (\(MatmulKernel.description)) vs double")
                var plain = Worst("\(kernel.name) vs double, in units of Σ|αab|+|βc|")
                var untouched = 0, nanSeen = 0, cases = 0
                for (si, (m, n, k)) in shapes.enumerated() {
                    var rng = Rng(seed: UInt64(100 + si))
                    for (la, lb, lc) in [(0, 0, 0), (1, 0, 1), (0, 1, 1), (2, 1, 0), (1, 2, 2), (3, 3, 3), (0, 0, 2)] {
                        let (_, rsa, csa, na) = Self.layouts(m, k)[la]
                        let (_, rsb, csb, nb) = Self.layouts(k, n)[lb]
                        let (cname, rsc, csc, nc) = Self.layouts(m, n)[lc]
                        // Big shapes: only a few layout pairs, to keep the naive product cheap.
                        if m * n * k > 10_000_000 && la + lb + lc > 0 && lc != 3 { continue }
                        let a = (0..<na).map { _ in rng.nextFloat() - 0.5 }
                        let b = (0..<nb).map { _ in rng.nextFloat() - 0.5 }
                        let c0 = (0..<nc).map { _ in rng.nextFloat() - 0.5 }
                        for (alpha, beta) in scalars {
                            cases += 1
                            // beta = 0: C holds NaN, which must not reach the result.
                            var c = beta == 0 ? [Float](repeating: .nan, count: nc) : c0
                            let sentinel = c   // elements outside the m×n view must stay
                            a.withUnsafeBufferPointer { ap in
                                b.withUnsafeBufferPointer { bp in
                                    c.withUnsafeMutableBufferPointer { cp in
                                        Matmul.sgemm(m, n, k, alpha: alpha, ap.baseAddress!, rsa, csa,
                                                     bp.baseAddress!, rsb, csb, beta: beta, cp.baseAddress!, rsc, csc)
                                    }
                                }
                            }
                            var inView = [Bool](repeating: false, count: nc)
                            for i in 0..<m {
                                for j in 0..<n {
                                    var s = 0.0, mag = 0.0
                                    for p in 0..<k {
                                        let x = Double(a[i * rsa + p * csa]) * Double(b[p * rsb + j * csb])
                                        s += x; mag += abs(x)
                                    }
                                    let ci = i * rsc + j * csc
                                    inView[ci] = true
                                    let old = beta == 0 ? 0 : Double(c0[ci])
                                    let want = Double(alpha) * s + Double(beta) * old
                                    let got = Double(c[ci])
                                    if got.isNaN { nanSeen += 1 }
                                    // γ_(k+3) bound of fp32 summation, in units of the magnitudes.
                                    let denom = (Double(abs(alpha)) * mag + Double(abs(beta)) * abs(old)) * Double(k + 3)
                                    plain.see(got, want, denom: max(denom / Double(k + 3), 1e-30), "m=\(m) n=\(n) k=\(k) [\(i),\(j)]")
                                    worst.see(got, want, denom: max(denom, 1e-30),
                                              "m=\(m) n=\(n) k=\(k) A\(la) B\(lb) C=\(cname) a=\(alpha) b=\(beta) [\(i),\(j)]")
                                }
                            }
                            for e in 0..<nc where !inView[e] && c[e].bitPattern != sentinel[e].bitPattern { untouched += 1 }
                        }
                    }
                }
                print("\(worst) (error in units of (k+3)·Σ|αab|+|βc|, i.e. ≤ 6e-8 is within fp32's bound); "
                      + "\(cases) products; NaN results \(nanSeen); writes outside the view \(untouched)")
                print(plain)
                XCTAssertLessThan(worst.err, 1.2e-7, kernel.name)   // 2u: the γ_(k+3) bound with margin
                XCTAssertEqual(nanSeen, 0, kernel.name)
                XCTAssertEqual(untouched, 0, kernel.name)
            }
        }
    }

    /// A given kernel gives the same bits for 1, 2 and 3 threads and on every repeat, on
    /// trainer-like shapes (row tiles, column tiles, k-split); the kernels agree within
    /// fp32 rounding (checked against each other here, each against double above).
    func testEachKernelIsBitIdenticalAcrossThreadsAndRuns() {
        let shapes = [(2048, 384, 128, false), (259, 1000, 128, false), (384, 128, 2048, true), (300, 200, 150, false)]
        var perKernel: [String: [[Float]]] = [:]
        for kernel in runnableKernels() {
            with(kernel) {
                var outs: [[Float]] = []
                for (m, n, k, tr) in shapes {
                    var rng = Rng(seed: UInt64(m + n + k))
                    let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }
                    let b = (0..<(k * n)).map { _ in rng.nextFloat() - 0.5 }
                    let c0 = (0..<(m * n)).map { _ in rng.nextFloat() - 0.5 }
                    let (rsa, csa) = tr ? (1, m) : (k, 1)
                    var results: [[Float]] = []
                    for threads in [1, 2, 3, 2] {
                        let pool = ThreadPool(threads: threads)
                        var c = c0
                        var scratch = [Float](repeating: .nan, count: 8 * m * n)
                        a.withUnsafeBufferPointer { ap in
                            b.withUnsafeBufferPointer { bp in
                                c.withUnsafeMutableBufferPointer { cp in
                                    scratch.withUnsafeMutableBufferPointer { sp in
                                        pool.sgemm(m, n, k, alpha: 0.75, ap.baseAddress!, rsa, csa, bp.baseAddress!, n, 1,
                                                   beta: 1, cp.baseAddress!, n, 1, scratch: sp.baseAddress, scratchCount: sp.count)
                                    }
                                }
                            }
                        }
                        results.append(c)
                    }
                    for r in 1..<results.count {
                        XCTAssertEqual(results[0].map(\.bitPattern), results[r].map(\.bitPattern),
                                       "\(kernel.name) \(m)x\(n)x\(k): run \(r) differs from 1 thread")
                    }
                    outs.append(results[0])
                }
                perKernel[kernel.name] = outs
                print("\(kernel.name): \(shapes.count) shapes bit-identical over threads 1, 2, 3, 2")
            }
        }
        if let x = perKernel["blis"], let y = perKernel["avx512"] {
            var worst = Worst("avx512 vs blis (informative)")
            var differ = 0
            for s in 0..<x.count {
                for i in 0..<x[s].count {
                    if x[s][i] != y[s][i] { differ += 1 }
                    worst.rel(Double(y[s][i]), Double(x[s][i]), floor: 1, "shape \(s) [\(i)]")
                }
            }
            print("\(worst); \(differ) elements differ in bits")
        }
    }

    /// A checkpoint trained with one kernel loads and continues with another; the oracle is
    /// the same continuation on the first kernel (fp32-rounding-close, not bit-equal).
    func testCheckpointCrossesKernels() throws {
        let ks = runnableKernels()
        guard ks.count >= 2 else { print("skip: only \(ks.map(\.name)) runs here, nothing to cross"); return }
        var c = TrainerConfig()
        // Big enough that projections (32-row tiles × 96 × 400 and up) take our packed path;
        // the down projection's k = 400 exceeds our KC = 384, so its rounding differs from
        // BLIS's (for k <= KC both kernels run the same sequential FMA chain: same bits).
        c.model = ModelConfig(dModel: 96, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 400, maxSeq: 64)
        c.batch = 8; c.seq = 64; c.threads = 2; c.seed = 11
        func train(_ t: Trainer, _ steps: Int) throws -> [Float] { try t.trainOnReverse(steps: steps) }
        let path = "/tmp/ibtpo-test-\(getpid())-xkernel.ckpt"
        defer { unlink(path) }
        try with(ks[1]) {
            let t = try Trainer(c)
            _ = try train(t, 3)
            try Checkpoint.save(t, path: path)
        }
        var continued: [String: [Float]] = [:]
        for k in [ks[1], ks[0]] {
            try with(k) {
                let t = try Trainer({ var d = c; d.seed = 99; return d }())
                try Checkpoint.load(t, path: path)
                continued[k.name] = try train(t, 3)
            }
        }
        let same = continued[ks[1].name]!, other = continued[ks[0].name]!
        var worst = Worst("loss after loading, \(ks[0].name) vs \(ks[1].name) (saved with \(ks[1].name))")
        for i in 0..<same.count { worst.rel(Double(other[i]), Double(same[i]), floor: 1, "step \(i)") }
        let differ = zip(same, other).filter { $0.bitPattern != $1.bitPattern }.count
        print("\(worst); losses \(ks[1].name) \(same) vs \(ks[0].name) \(other); \(differ) of \(same.count) differ in bits")
        XCTAssertTrue(other.allSatisfy(\.isFinite))
        XCTAssertLessThan(worst.err, 1e-4)
    }

    /// The override's names round-trip, and an unsupported kernel is refused without change.
    func testSelectRefusesWhatTheCPULacks() {
        for k in MatmulKernel.allCases { XCTAssertEqual(MatmulKernel(name: k.name), k) }
        XCTAssertNil(MatmulKernel(name: "skx"))
        let before = MatmulKernel.current
        if !MatmulKernel.avx512.isSupported {
            XCTAssertFalse(MatmulKernel.select(.avx512))
            XCTAssertEqual(MatmulKernel.current, before)
            print("avx512 refused on this CPU, kernel stays \(before.name)")
        } else {
            print("avx512 supported here; in use: \(MatmulKernel.description)")
        }
    }
}
