import XCTest
@testable import IBTPO

/// A pass on a shorter shape (`Model.setPass`) must give each row the same log-probs, entropy
/// and — summed over rows — the same gradients as the full shape with the rows right-padded.
final class PassShapeTests: XCTestCase {
    func testShortPassMatchesPaddedFullPass() throws {
        let cfg = ModelConfig(vocab: 259, dModel: 64, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 160, maxSeq: 32)
        let full = TrainShape(batch: 5, seq: 32)
        let m = try Model(config: cfg, shape: full, threads: 2, seed: 7)
        var rng = Rng(seed: 3)
        let rows = 3, seq = 19   // the short pass: 3 rows of 19 positions
        var toks = [Int32](), tgts = [Int32](), coefs = [Float]()
        for _ in 0..<(rows * seq) {
            toks.append(Int32(rng.nextInt(256)))
            tgts.append(rng.nextInt(5) == 0 ? -1 : Int32(rng.nextInt(256)))
            coefs.append(rng.nextFloat() - 0.5)
        }
        func run(batch: Int, stride: Int) throws -> (logp: [Float], ent: [Float], grads: [Float]) {
            try m.setPass(batch: batch, seq: stride)
            defer { m.resetPass() }
            for i in 0..<(batch * stride) { m.tokens[i] = 258; m.targets[i] = -1; m.coef[i] = 0; m.entCoef[i] = 0 }
            for b in 0..<rows { for t in 0..<seq {
                let i = b * stride + t, j = b * seq + t
                m.tokens[i] = toks[j]; m.targets[i] = tgts[j]; m.coef[i] = coefs[j]; m.entCoef[i] = 0.01 * coefs[j]
            } }
            m.forward(withEntropy: true)
            var lp = [Float](), en = [Float]()
            for b in 0..<rows { for t in 0..<seq { lp.append(m.logp[b * stride + t]); en.append(m.entropy[b * stride + t]) } }
            m.zeroGrads()
            m.backward(withEntropy: true)
            return (lp, en, (0..<m.layout.count).map { m.grads[$0] })
        }
        let a = try run(batch: full.batch, stride: full.seq)
        let b = try run(batch: rows, stride: seq)
        var w = Worst("pass shape 3×19 vs padded 5×32")
        for i in 0..<a.logp.count {
            w.rel(Double(b.logp[i]), Double(a.logp[i]), floor: 1, "logp \(i)")
            w.rel(Double(b.ent[i]), Double(a.ent[i]), floor: 1, "entropy \(i)")
        }
        let scale = a.grads.reduce(0) { max($0, Double(abs($1))) }
        for i in 0..<a.grads.count { w.see(Double(b.grads[i]), Double(a.grads[i]), denom: scale, "grad \(i)") }
        w.check(1e-5)
        XCTAssertThrowsError(try m.setPass(batch: 41, seq: 4))    // 164 tokens > 5·32
        XCTAssertThrowsError(try m.setPass(batch: 1, seq: 33))    // > max_seq
        XCTAssertThrowsError(try m.setPass(batch: 0, seq: 4))
        XCTAssertThrowsError(try m.setPass(batch: 6, seq: 32))
        XCTAssertEqual(m.passCapacity(seq: 32), 5)
        XCTAssertEqual(m.pass, full)
    }
}
