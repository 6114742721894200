import XCTest
@testable import IBTPO

/// The k-split path of `ThreadPool.sgemm` (deep products such as weight gradients) against a
/// naive double-precision product, and its bit-identity across thread counts.
final class GemmKSplitTests: XCTestCase {
    func testKSplitMatchesDoubleAndIsThreadCountInvariant() {
        // (m, n, k, A transposed): k ≥ 4·max(m, n) and k ≥ 1024 so that 2…8 chunks are used.
        let shapes = [(7, 13, 1024, true), (33, 17, 1500, false), (64, 48, 4096, true), (1, 5, 2048, false)]
        var worst = Worst("k-split sgemm vs double")
        for (m, n, k, tr) in shapes {
            let chunks = ThreadPool.kChunks(m: m, n: n, k: k)
            XCTAssertGreaterThan(chunks, 1, "shape \(m)x\(n)x\(k) should split")
            var rng = Rng(seed: UInt64(m * 31 + n))
            let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }
            let b = (0..<(k * n)).map { _ in rng.nextFloat() - 0.5 }
            let c0 = (0..<(m * n)).map { _ in rng.nextFloat() - 0.5 }
            let (rsa, csa) = tr ? (1, m) : (k, 1)
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                let pool = ThreadPool(threads: threads)
                var c = c0
                var scratch = [Float](repeating: .nan, count: (chunks - 1) * m * n)
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            scratch.withUnsafeMutableBufferPointer { sp in
                                pool.sgemm(m, n, k, alpha: 0.5, ap.baseAddress!, rsa, csa, bp.baseAddress!, n, 1, beta: 2,
                                           cp.baseAddress!, n, 1, scratch: sp.baseAddress, scratchCount: sp.count)
                            }
                        }
                    }
                }
                results.append(c)
            }
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0, mag = 0.0
                    for p in 0..<k {
                        let x = Double(a[i * rsa + p * csa]) * Double(b[p * n + j])
                        s += x; mag += abs(x)
                    }
                    let want = 2 * Double(c0[i * n + j]) + 0.5 * s
                    worst.see(Double(results[0][i * n + j]), want, denom: max(1, 0.5 * mag + 2 * abs(Double(c0[i * n + j]))),
                              "m=\(m) n=\(n) k=\(k) C[\(i),\(j)]")
                }
            }
            XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern), "1 vs 2 threads, \(m)x\(n)x\(k)")
            XCTAssertEqual(results[0].map(\.bitPattern), results[2].map(\.bitPattern), "1 vs 3 threads, \(m)x\(n)x\(k)")
        }
        print(worst)
        XCTAssertLessThan(worst.err, 1e-6)
    }

    /// A model large enough to take the k-split path in every weight gradient trains to the
    /// same bits with 1, 2 and 3 threads.
    func testModelWithKSplitIsThreadCountInvariant() throws {
        var digests: [[UInt32]] = []
        for threads in [1, 2, 3] {
            var c = TrainerConfig()
            c.model = ModelConfig(dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 64, tieEmbeddings: false)
            c.batch = 32; c.seq = 64; c.threads = threads; c.seed = 11
            let t = try Trainer(c)
            XCTAssertGreaterThan(ThreadPool.kChunks(m: 259, n: 32, k: c.batch * c.seq), 1)
            for _ in 0..<2 {
                _ = ReverseTask(minLen: 10, maxLen: 30).fill(tokens: t.model.tokens, targets: t.model.targets,
                                                              coef: t.model.coef, batch: c.batch, seq: c.seq, rng: &t.rng)
                _ = try t.supervisedStep()
            }
            digests.append((0..<t.model.layout.count).map { t.model.params[$0].bitPattern })
        }
        let diff12 = zip(digests[0], digests[1]).filter { $0 != $1 }.count
        let diff13 = zip(digests[0], digests[2]).filter { $0 != $1 }.count
        print("parameters differing after 2 steps: 1 vs 2 threads \(diff12), 1 vs 3 threads \(diff13) of \(digests[0].count)")
        XCTAssertEqual(diff12, 0)
        XCTAssertEqual(diff13, 0)
    }
}
