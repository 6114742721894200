import XCTest
import Glibc
@testable import IBTPO

final class RLPolicyLossTests: XCTestCase {
    /// Random batch of `seqs` sequences with ratios either well inside (0.85…1.15) or well
    /// outside (0.6 / 1.5) the clip range, so no point is within reach of a kink.
    struct Batch {
        var lpNew: [Double], lpOld: [Double], lpRef: [Double], adv: [Double], seq: [Int32], mask: [Bool], ent: [Double]
    }

    func makeBatch(_ rng: inout Rng, seqs: Int) -> Batch {
        var b = Batch(lpNew: [], lpOld: [], lpRef: [], adv: [], seq: [], mask: [], ent: [])
        for s in 0..<seqs {
            let len = 1 + rng.nextInt(6)
            for j in 0..<len {
                let lp = -Double(rng.nextFloat()) * 4 - 0.05
                let kind = rng.nextInt(4)
                let logRatio = kind == 0 ? log(1.5) : kind == 1 ? log(0.6) : (Double(rng.nextFloat()) * 0.3 - 0.15)
                b.lpNew.append(lp); b.lpOld.append(lp - logRatio)
                b.lpRef.append(lp + Double(rng.nextFloat()) * 0.6 - 0.3)
                b.adv.append(Double(rng.nextGaussian()))
                b.seq.append(Int32(s)); b.mask.append(j == 0 && s % 3 == 1 ? false : true)
                b.ent.append(Double(rng.nextFloat()) * 3)
            }
        }
        return b
    }

    func testGradientsAgainstFiniteDifferences() throws {
        var rng = Rng(seed: 3)
        var all = Worst("policy loss coef/entCoef vs central FD (sym)")
        let modes: [LossAggregation] = [.tokenMean, .sequenceMean, .constant(nil), .constant(37)]
        for mode in modes {
            for trial in 0..<5 {
                let b = makeBatch(&rng, seqs: 6)
                var c = RLConfig(); c.aggregation = mode; c.klCoef = 0.05; c.entropyCoef = 0.01
                c.clipHigh = trial % 2 == 0 ? 0.2 : 0.28
                let (res, coef, entCoef) = try PolicyLoss.compute(
                    logpNew: b.lpNew, logpOld: b.lpOld, logpRef: b.lpRef, advantages: b.adv, sequence: b.seq,
                    mask: b.mask, entropy: b.ent, config: c, maxResponseLength: 8)
                func L(_ lp: [Double], _ e: [Double]) throws -> Double {
                    try PolicyLoss.loss(logpNew: lp, logpOld: b.lpOld, logpRef: b.lpRef, advantages: b.adv,
                                        sequence: b.seq, mask: b.mask, entropy: e, config: c, maxResponseLength: 8)
                }
                XCTAssertEqual(try L(b.lpNew, b.ent), res.loss)
                let h = 1e-6
                var w = Worst("\(mode) trial \(trial)")
                for t in 0..<b.lpNew.count {
                    var p = b.lpNew, m = b.lpNew
                    p[t] += h; m[t] -= h
                    let fd = (try L(p, b.ent) - L(m, b.ent)) / (2 * h)
                    w.sym(Double(coef[t]), fd, floor: 1e-6, "coef[\(t)]")
                    var ep = b.ent, em = b.ent
                    ep[t] += h; em[t] -= h
                    let fde = (try L(b.lpNew, ep) - L(b.lpNew, em)) / (2 * h)
                    w.sym(Double(entCoef[t]), fde, floor: 1e-6, "entCoef[\(t)]")
                    if !b.mask[t] { XCTAssertEqual(coef[t], 0); XCTAssertEqual(entCoef[t], 0) }
                }
                all.merge(w)
            }
        }
        // coef is stored as Float (≈6e-8 relative); FD in double with h = 1e-6 is good to ~1e-9.
        all.check(1e-5)
    }

    /// Four tokens, one sequence, token mean (w = 1/4), no KL / entropy:
    ///   t0: ρ = e^.5 ≈ 1.6487, A = +1 → min(1.6487, 1.2) = 1.2 (clipped, high)  → coef 0
    ///   t1: ρ = e^−.5 ≈ .6065, A = −1 → min(−.6065, −.8) = −.8 (clipped, low)   → coef 0
    ///   t2: ρ = e^.5,          A = −1 → min(−1.6487, −1.2) = −1.6487 (unclipped) → coef = −¼·ρA = ρ/4
    ///   t3: ρ = e^−.5,         A = +1 → min(.6065, .8) = .6065 (unclipped)       → coef = −ρ/4
    ///   L = −(1.2 − .8 − e^.5 + e^−.5)/4
    func testHandClippedCases() throws {
        var c = RLConfig(); c.klCoef = 0
        let lpNew: [Double] = [-1, -1, -1, -1]
        let lpOld: [Double] = [-1.5, -0.5, -1.5, -0.5]
        let adv: [Double] = [1, -1, -1, 1]
        let (r, coef, entCoef) = try PolicyLoss.compute(logpNew: lpNew, logpOld: lpOld, logpRef: nil, advantages: adv,
                                                        sequence: [0, 0, 0, 0], mask: nil, config: c)
        XCTAssertEqual(coef[0], 0); XCTAssertEqual(coef[1], 0)
        let e5 = exp(0.5), em5 = exp(-0.5)
        var w = Worst("hand clipped cases (abs)")
        w.see(Double(coef[2]), e5 / 4, denom: 1, "coef[2]"); w.see(Double(coef[3]), -em5 / 4, denom: 1, "coef[3]")
        w.see(r.loss, -(1.2 - 0.8 - e5 + em5) / 4, denom: 1, "loss")
        w.see(r.clipFracHigh, 0.25, denom: 1, "clip high"); w.see(r.clipFracLow, 0.25, denom: 1, "clip low")
        w.see(r.meanRatio, (2 * e5 + 2 * em5) / 4, denom: 1, "mean ratio")
        XCTAssertEqual(entCoef, [0, 0, 0, 0])
        // Clip-higher (ε_high = .28) keeps t0 clipped (1.6487 > 1.28); ε_high = .7 un-clips it: coef = −e^.5/4.
        c.clipHigh = 0.7
        let (r2, coef2, _) = try PolicyLoss.compute(logpNew: lpNew, logpOld: lpOld, logpRef: nil, advantages: adv,
                                                    sequence: [0, 0, 0, 0], mask: nil, config: c)
        w.see(Double(coef2[0]), -e5 / 4, denom: 1, "coef[0] ε_high .7"); w.see(r2.clipFracHigh, 0, denom: 1, "clip high .7")
        // KL k3 at x = lpRef − lpNew = ln 2: KL = 2 − ln2 − 1, ∂/∂lpNew = 1 − 2 = −1 → coef adds β·(−1)/N.
        c = RLConfig(); c.klCoef = 0.5
        let (r3, coef3, _) = try PolicyLoss.compute(logpNew: [-1.0], logpOld: [-1.0], logpRef: [-1 + log(2.0)],
                                                    advantages: [0.0], sequence: [0], mask: nil, config: c)
        w.see(r3.meanKL, 1 - log(2.0), denom: 1, "k3"); w.see(r3.loss, 0.5 * (1 - log(2.0)), denom: 1, "KL loss")
        w.see(Double(coef3[0]), -0.5, denom: 1, "KL coef")
        w.check(1e-7)
        print("policy loss: hand clipped cases (coef exactly 0 where clipped), clip-higher, k3 KL checked")
    }

    /// Sequences of 1 and 3 tokens, ρ = 1, A = 1, no KL: coef = −w.
    func testAggregationModes() throws {
        var w = Worst("aggregation weights (abs)")
        func run(_ mode: LossAggregation, maxLen: Int? = nil) throws -> ([Float], Double) {
            var c = RLConfig(); c.aggregation = mode; c.klCoef = 0; c.entropyCoef = 1
            let r = try PolicyLoss.compute(logpNew: [-1.0, -1, -1, -1, -2], logpOld: [-1.0, -1, -1, -1, -2],
                                           logpRef: nil, advantages: [1.0, 1, 1, 1, 1], sequence: [0, 1, 1, 1, 1],
                                           mask: [true, true, true, true, false], entropy: [1.0, 1, 1, 1, 1],
                                           config: c, maxResponseLength: maxLen)
            XCTAssertEqual(r.coef, r.entCoef)     // c_ent = 1, H ≡ 1: both are −w
            return (r.coef, r.result.loss)
        }
        // tokenMean: 4 masked tokens → w = 1/4; L = −4·¼ (pg) − 4·¼ (entropy) = −2.
        var (cf, l) = try run(.tokenMean)
        for t in 0..<4 { w.see(Double(cf[t]), -0.25, denom: 1, "tok coef[\(t)]") }
        w.see(l, -2, denom: 1, "tok loss")
        // sequenceMean: S = 2; seq 0 has 1 token → w = 1/2; seq 1 has 3 masked → w = 1/6. L = −2.
        (cf, l) = try run(.sequenceMean)
        w.see(Double(cf[0]), -0.5, denom: 1, "seq coef[0]")
        for t in 1..<4 { w.see(Double(cf[t]), -1.0 / 6, denom: 1, "seq coef[\(t)]") }
        w.see(l, -2, denom: 1, "seq loss")
        // constant(nil), max length 5: C = 5·2 = 10 → w = .1, L = −.8. constant(8): w = 1/8, L = −1.
        (cf, l) = try run(.constant(nil), maxLen: 5)
        for t in 0..<4 { w.see(Double(cf[t]), -0.1, denom: 1, "const coef[\(t)]") }
        w.see(l, -0.8, denom: 1, "const loss")
        (cf, l) = try run(.constant(8))
        for t in 0..<4 { w.see(Double(cf[t]), -0.125, denom: 1, "const8 coef[\(t)]") }
        w.see(l, -1, denom: 1, "const8 loss")
        XCTAssertEqual(cf[4], 0)
        XCTAssertThrowsError(try run(.constant(nil)))   // needs maxResponseLength
        w.check(1e-7)
        print("policy loss: tokenMean / sequenceMean / constant weights checked")
    }

    /// coef/entCoef from PolicyLoss through the real model's backward vs finite differences
    /// of the PPO loss recomputed from model.forward() in float.
    func testEndToEndThroughModel() throws {
        let cfg = ModelConfig(vocab: 259, dModel: 16, nLayers: 1, nHeads: 2, nKVHeads: 1, dFF: 16, maxSeq: 16)
        let shape = TrainShape(batch: 2, seq: 10)
        let m = try Model(config: cfg, shape: shape, threads: 2, seed: 4)
        var rng = Rng(seed: 21)
        // O(1) activations (as in ModelReferenceTests), so that gradients are well above float noise.
        for t in m.layout.tensors {
            for j in 0..<t.count {
                let g = rng.nextGaussian()
                if t.shape.count == 1 { m.params[t.offset + j] = 1 + 0.3 * g }
                else if t.name == "tok_embeddings" { m.params[t.offset + j] = 0.6 * g }
                else { m.params[t.offset + j] = g * 1.2 / Float(t.shape[1]).squareRoot() }
            }
        }
        let B = shape.batch, T = shape.seq, N = shape.tokens, prompt = 3
        for b in 0..<B { for t in 0..<T { m.tokens[b * T + t] = Int32(rng.nextInt(cfg.vocab)) } }
        var mask = [Bool](repeating: false, count: N), seq = [Int32](repeating: 0, count: N)
        for b in 0..<B {
            for t in 0..<T {
                let r = b * T + t
                seq[r] = Int32(b)
                let on = t >= prompt - 1 && t < T - 1 - b      // sequence 1 is one token shorter
                m.targets[r] = on ? m.tokens[r + 1] : -1
                mask[r] = on
            }
        }
        m.forward(withEntropy: true)
        let lp0 = (0..<N).map { Double(m.logp[$0]) }
        let logRatio = (0..<N).map { _ in Double(rng.nextFloat()) * 0.16 - 0.08 }   // ρ ∈ (.92, 1.08)
        let lpOld = (0..<N).map { lp0[$0] - logRatio[$0] }
        let lpRef = (0..<N).map { lp0[$0] + Double(rng.nextFloat()) * 0.6 - 0.3 }
        let adv = (0..<N).map { _ in Double(rng.nextGaussian()) }
        var c = RLConfig(); c.klCoef = 0.05; c.entropyCoef = 0.02
        var worstAll = Worst("model grads from PolicyLoss coef vs FD (sym)")
        for mode in [LossAggregation.tokenMean, .sequenceMean] {
            c.aggregation = mode
            m.forward(withEntropy: true)
            let (res, coef, entCoef) = try PolicyLoss.compute(
                logpNew: (0..<N).map { Double(m.logp[$0]) }, logpOld: lpOld, logpRef: lpRef, advantages: adv,
                sequence: seq, mask: mask, entropy: (0..<N).map { Double(m.entropy[$0]) }, config: c)
            for r in 0..<N { m.coef[r] = coef[r]; m.entCoef[r] = entCoef[r] }
            m.zeroGrads()
            m.backward(withEntropy: true)
            let grads = (0..<m.layout.count).map { Double(m.grads[$0]) }
            func lossNow() throws -> Double {
                m.forward(withEntropy: true)
                return try PolicyLoss.loss(logpNew: (0..<N).map { Double(m.logp[$0]) }, logpOld: lpOld, logpRef: lpRef,
                                           advantages: adv, sequence: seq, mask: mask,
                                           entropy: (0..<N).map { Double(m.entropy[$0]) }, config: c)
            }
            // The 3 largest-|grad| entries of every tensor.
            var w = Worst("\(mode)")
            let h: Float = 1e-2
            for t in m.layout.tensors {
                let idx = (0..<t.count).sorted { abs(grads[t.offset + $0]) > abs(grads[t.offset + $1]) }.prefix(3)
                for j in idx {
                    let i = t.offset + j, old = m.params[i]
                    m.params[i] = old + h; let lp = try lossNow()
                    m.params[i] = old - h; let lm = try lossNow()
                    m.params[i] = old
                    let fd = (lp - lm) / Double(2 * h)
                    w.sym(grads[i], fd, floor: 1e-4, "\(t.name)[\(j)]")
                }
            }
            print("\(w) (loss \(res.loss), clip low/high \(res.clipFracLow)/\(res.clipFracHigh), mean KL \(res.meanKL))")
            XCTAssertEqual(res.clipFracLow + res.clipFracHigh, 0)   // ratios stay inside the clip range
            worstAll.merge(w)
        }
        worstAll.check(2e-2)
    }
}
