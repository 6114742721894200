import XCTest
@testable import IBTPO

/// forward + backward + adamwStep over a few steps must be bit-reproducible for a fixed
/// seed and thread count, and (by design: no reduction is split across threads) also
/// across thread counts.
final class DeterminismTests: XCTestCase {
    struct Run { var params: [Float]; var grads: [Float]; var logp: [Float]; var norms: [Float] }

    /// Big enough that ThreadPool.sgemm really splits (N·C·C ≥ 64³) and every parallelFor
    /// has several chunks; tied and untied, with the entropy path.
    static func train(threads: Int, tied: Bool, steps: Int = 3) throws -> Run {
        let cfg = ModelConfig(vocab: 259, dModel: 64, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 160, maxSeq: 32,
                              tieEmbeddings: tied)
        let shape = TrainShape(batch: 4, seq: 32)
        let m = try Model(config: cfg, shape: shape, threads: threads, seed: 1234)
        XCTAssertEqual(m.pool.width, threads)
        var rng = Rng(seed: 99)
        var hyper = AdamWHyper()
        hyper.weightDecay = 0.1
        let N = shape.tokens
        var logp: [Float] = [], norms: [Float] = []
        for step in 1...steps {
            for r in 0..<N {
                m.tokens[r] = Int32(rng.nextInt(cfg.vocab))
                m.targets[r] = r % shape.seq == shape.seq - 1 ? -1 : Int32(rng.nextInt(cfg.vocab))
                m.coef[r] = rng.nextFloat() - 0.5
                m.entCoef[r] = 0.01 * (rng.nextFloat() - 0.5)
            }
            m.forward(withEntropy: true)
            logp += (0..<N).map { m.logp[$0] }
            m.zeroGrads()
            m.backward(withEntropy: true)
            // clip 0.5 so the clipping branch (a global reduction) is exercised
            norms.append(m.adamwStep(t: step, lr: 1e-3, hyper: hyper, clip: 0.5))
        }
        let P = m.layout.count
        return Run(params: (0..<P).map { m.params[$0] }, grads: (0..<P).map { m.grads[$0] }, logp: logp, norms: norms)
    }

    /// Number of differing bit patterns and the largest absolute difference.
    static func compare(_ a: [Float], _ b: [Float]) -> (diff: Int, maxAbs: Float, at: Int) {
        var diff = 0, at = -1
        var mx: Float = 0
        for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern {
            diff += 1
            let d = abs(a[i] - b[i])
            if d >= mx { mx = d; at = i }
        }
        return (diff, mx, at)
    }

    func report(_ what: String, _ a: Run, _ b: Run) -> Bool {
        var same = true
        for (name, x, y) in [("params", a.params, b.params), ("grads", a.grads, b.grads), ("logp", a.logp, b.logp),
                             ("grad norms", a.norms, b.norms)] {
            let c = Self.compare(x, y)
            print("[\(what)] \(name): \(c.diff) of \(x.count) values differ" + (c.diff > 0 ? ", max |Δ| \(c.maxAbs) at [\(c.at)]" : " (bit-identical)"))
            if c.diff > 0 { same = false }
        }
        return same
    }

    func testSameSeedSameThreadsIsBitIdentical() throws {
        for tied in [false, true] {
            let t0 = nowSeconds()
            let a = try Self.train(threads: 2, tied: tied), b = try Self.train(threads: 2, tied: tied)
            print("two runs took \(String(format: "%.2f", nowSeconds() - t0)) s")
            XCTAssertTrue(report("2 vs 2 threads, tied=\(tied)", a, b), "same seed and thread count must be bit-identical")
        }
    }

    func testThreadCountDoesNotChangeResults() throws {
        for tied in [false, true] {
            let one = try Self.train(threads: 1, tied: tied)
            for threads in [2, 3] {
                let other = try Self.train(threads: threads, tied: tied)
                XCTAssertTrue(report("1 vs \(threads) threads, tied=\(tied)", one, other),
                              "results should not depend on the thread count (no reduction is split across threads)")
            }
        }
    }

    /// ThreadPool.sgemm (and so linearForward/Backward) must give the same bits for any
    /// thread count, including row/column splits whose blocks are not multiples of BLIS's
    /// micro-tile (BLIS's bits for a block depend on the block's size).
    func testPoolSgemmIsThreadCountInvariant() {
        var rng = Rng(seed: 5)
        let pools = [1, 2, 3, 4].map { ThreadPool(threads: $0) }
        var worst: (Int, String) = (0, "")
        for (m, n, k, rsa, csa, rsb, csb) in [
            (128, 64, 64, 64, 1, 1, 64),      // linearForward x·Wᵀ
            (128, 64, 160, 160, 1, 64, 1),    // linearBackward dx = dy·W
            (160, 64, 128, 1, 160, 64, 1),    // linearBackward dW += dyᵀ·x
            (259, 64, 128, 1, 259, 64, 1),    // vocab-sized dW
            (37, 300, 65, 65, 1, 300, 1),     // column split
            (4099, 17, 33, 33, 1, 17, 1),
        ] {
            let a = randomFloats(m * k * 2 + 1000, &rng), b = randomFloats(k * n * 2 + 1000, &rng)
            let c0 = randomFloats(m * n, &rng)
            defer { a.deallocate(); b.deallocate(); c0.deallocate() }
            var results: [[UInt32]] = []
            for pool in pools {
                let c = copyFloats(c0, m * n)
                defer { c.deallocate() }
                pool.sgemm(m, n, k, alpha: 0.7, a, rsa, csa, b, rsb, csb, beta: 1, c, n, 1)
                results.append((0..<m * n).map { c[$0].bitPattern })
            }
            for (i, r) in results.enumerated().dropFirst() {
                let diff = zip(r, results[0]).filter { $0 != $1 }.count
                print("[pool sgemm m=\(m) n=\(n) k=\(k)] 1 vs \(pools[i].threads) threads: \(diff) of \(m * n) differ")
                if diff > worst.0 { worst = (diff, "m=\(m) n=\(n) k=\(k) threads=\(pools[i].threads)") }
            }
        }
        XCTAssertEqual(worst.0, 0, "ThreadPool.sgemm depends on the thread count: \(worst.1)")
    }

    /// Element-wise kernels split at arbitrary boundaries (as parallelFor does) must give the
    /// same bits as one call: the scalar tails must round exactly like the SIMD bodies.
    func testElementwiseKernelsAreSplitInvariant() {
        var rng = Rng(seed: 8)
        let n = 1003
        let g = randomFloats(n, &rng, scale: 3), u = randomFloats(n, &rng), dh = randomFloats(n, &rng)
        let outs = (0..<6).map { _ in filledFloats(n, 0) }
        defer { for p in [g, u, dh] + outs { p.deallocate() } }
        SwiGLU.forward(g, u, outs[0], 0, n)
        SwiGLU.backward(dh, g, u, outs[1], outs[2], 0, n)
        var diffs = [0, 0, 0]
        for cuts in [[0, 1, n], [0, 333, 667, n], [0, 5, 13, 500, 1001, n]] {
            for p in outs[3...] { p.update(repeating: 0, count: n) }
            for (lo, hi) in zip(cuts, cuts.dropFirst()) {
                SwiGLU.forward(g, u, outs[3], lo, hi)
                SwiGLU.backward(dh, g, u, outs[4], outs[5], lo, hi)
            }
            for i in 0..<n {
                for q in 0..<3 where outs[q][i].bitPattern != outs[q + 3][i].bitPattern { diffs[q] += 1 }
            }
        }
        print("[SwiGLU split invariance] differing values: h \(diffs[0]), dg \(diffs[1]), du \(diffs[2])")
        XCTAssertEqual(diffs, [0, 0, 0])
    }
}
