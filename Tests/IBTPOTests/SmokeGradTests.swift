import XCTest
@testable import IBTPO

final class SmokeGradTests: XCTestCase {
    func testQuickFloatFiniteDifference() throws {
        let cfg = ModelConfig(vocab: 11, dModel: 8, nLayers: 2, nHeads: 2, nKVHeads: 1, dFF: 12, maxSeq: 8, tieEmbeddings: false)
        let m = try Model(config: cfg, shape: TrainShape(batch: 2, seq: 5), threads: 2, seed: 1)
        var rng = Rng(seed: 3)
        for t in m.layout.tensors { for j in 0..<t.count { m.params[t.offset + j] += rng.nextGaussian() * 0.3 } }
        for r in 0..<10 { m.tokens[r] = Int32(rng.nextInt(11)); m.targets[r] = Int32(rng.nextInt(11)); m.coef[r] = -rng.nextFloat() }
        func loss() -> Double { m.forward(); var s = 0.0; for r in 0..<10 { s += Double(-m.coef[r]) * Double(-m.logp[r]) }; return s }
        _ = loss(); m.zeroGrads(); m.backward()
        var worst = 0.0
        for t in m.layout.tensors {
            for j in stride(from: 0, to: t.count, by: max(1, t.count / 5)) {
                let i = t.offset + j, old = m.params[i], h: Float = 2e-3
                m.params[i] = old + h; let lp = loss(); m.params[i] = old - h; let lm = loss(); m.params[i] = old
                let fd = (lp - lm) / Double(2 * h), an = Double(m.grads[i])
                let err = abs(fd - an) / max(1e-2, abs(fd) + abs(an))
                if err > worst { worst = err; print("worst so far \(t.name)[\(j)] fd=\(fd) an=\(an) rel=\(err)") }
            }
        }
        print("worst relative error \(worst)")
        XCTAssertLessThan(worst, 2e-2)
    }
}
