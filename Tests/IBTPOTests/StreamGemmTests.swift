import CKernels
import XCTest
@testable import IBTPO

/// The decoder's in-place product y = x·wᵀ (+ beta·y) (`ibtpokern_sgemm_nt_stream`,
/// `ThreadPool.sgemmNTStream`) against a double-precision twin, for each implementation this
/// CPU runs (AVX-512F, AVX2+FMA, portable), on awkward shapes (k not a multiple of the vector
/// width, n not a multiple of 4, m from 1 past a block of 4), with padded row strides; and
/// bit-identical results for 1, 2 and 3 threads.
final class StreamGemmTests: XCTestCase {
    static let shapes = [(1, 4, 16), (1, 7, 17), (3, 9, 33), (4, 12, 576), (5, 13, 100), (8, 33, 31), (17, 6, 7),
                         (64, 20, 48), (2, 1, 1), (6, 130, 257)]

    /// The implementations to test: portable always, AVX2+FMA and AVX-512F when this CPU
    /// runs them (`ibtpokern_stream_impl` returns the best; AVX-512 CPUs have AVX2 too).
    func impls() -> [Int32] { Array(0...ibtpokern_stream_impl()) }

    func testAgainstDoubleTwin() {
        var rng = Rng(seed: 21)
        var worst = Worst("sgemm_nt_stream vs double, normalised by Σ|x·w| + |beta·y0|")
        for impl in impls() {
            for (m, n, k) in Self.shapes {
                for beta: Float in [0, 1, 0.5] {
                    let ldx = k + 3, ldw = k + 5, ldy = n + 2
                    let x = (0..<(m * ldx)).map { _ in Float(rng.nextGaussian()) }
                    let w = (0..<(n * ldw)).map { _ in Float(rng.nextGaussian()) }
                    var y = (0..<(m * ldy)).map { i in i % ldy >= n ? 7 : beta == 0 ? Float.nan : Float(rng.nextGaussian()) }
                    let y0 = y
                    // Two column ranges as two threads would take them: 0..<4·h and 4·h..<n.
                    let h = (n + 3) / 4 / 2 * 4
                    for (j0, j1) in [(0, h), (h, n)] {
                        ibtpokern_sgemm_nt_stream(impl, Int64(m), Int64(n), Int64(j0), Int64(j1), Int64(k), x, Int64(ldx),
                                                  w, Int64(ldw), beta, &y, Int64(ldy))
                    }
                    for i in 0..<m {
                        for j in 0..<ldy {
                            let got = Double(y[i * ldy + j])
                            guard j < n else {
                                XCTAssertEqual(got, 7, "impl \(impl): padding y[\(i)][\(j)] was written")
                                continue
                            }
                            var want = 0.0, denom = 0.0
                            for p in 0..<k {
                                let t = Double(x[i * ldx + p]) * Double(w[j * ldw + p])
                                want += t; denom += abs(t)
                            }
                            if beta != 0 {
                                want += Double(beta) * Double(y0[i * ldy + j]); denom += abs(Double(beta) * Double(y0[i * ldy + j]))
                            }
                            worst.see(got, want, denom: max(denom, 1e-30), "impl \(impl) m\(m) n\(n) k\(k) beta \(beta) [\(i)][\(j)]")
                        }
                    }
                }
            }
        }
        worst.check(2e-6)
    }

    func testThreadCountDoesNotChangeBits() {
        var rng = Rng(seed: 22)
        let (m, n, k) = (9, 1030, 577)   // large enough that the pool splits it
        let x = (0..<(m * k)).map { _ in Float(rng.nextGaussian()) }
        let w = (0..<(n * k)).map { _ in Float(rng.nextGaussian()) }
        var outs: [[UInt32]] = []
        for threads in [1, 2, 3] {
            var y = [Float](repeating: 0, count: m * n)
            ThreadPool(threads: threads).sgemmNTStream(m, n, k, x, k, w, k, &y, n)
            outs.append(y.map(\.bitPattern))
        }
        XCTAssertEqual(outs[0], outs[1])
        XCTAssertEqual(outs[0], outs[2])
        print("sgemmNTStream \(m)×\(n)×\(k): 1, 2 and 3 threads bit-identical (\(outs[0] == outs[2]))")
    }
}
