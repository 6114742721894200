import XCTest
import Glibc
@testable import IBTPO

final class RLAdvantageTests: XCTestCase {
    func testGRPOHandGroupAndConstantGroups() throws {
        var c = RLConfig()
        XCTAssertEqual(c.advantageEps, 1e-4)   // TRL GRPOTrainer: advantages / (std + 1e-4)
        var w = Worst("GRPO (abs)")
        // R = [1,0,0,1,1]: mean .6; population var = (3·.4² + 2·.6²)/5 = (.48 + .72)/5 = .24, std = √.24.
        let r: [Double] = [1, 0, 0, 1, 1]
        let sd = 0.24.squareRoot()
        let a = Advantages.grpo(rewards: r, config: c.advantage)
        for i in 0..<5 { w.see(a[i], (r[i] - 0.6) / (sd + 1e-4), denom: 1, "pop A[\(i)]") }
        // Sample std: var = 1.2/4 = .3.
        c.stdEstimator = .sample
        let b = Advantages.grpo(rewards: r, config: c.advantage)
        for i in 0..<5 { w.see(b[i], (r[i] - 0.6) / (0.3.squareRoot() + 1e-4), denom: 1, "sample A[\(i)]") }
        c.stdEstimator = .population
        // Fractional rewards: [.25, .75] → mean .5, std .25 → ±.25/(.25 + 1e-4).
        let f = Advantages.grpo(rewards: [0.25, 0.75], config: c.advantage)
        w.see(f[0], -0.25 / 0.2501, denom: 1, "frac A[0]"); w.see(f[1], 0.25 / 0.2501, denom: 1, "frac A[1]")
        w.check(1e-12)
        // All-equal groups: exactly 0 (0.1 is not exactly representable; the sum/mean would not return it).
        for g: [Double] in [[1, 1, 1, 1], [0, 0, 0], [0.1, 0.1, 0.1], [0.7]] {
            XCTAssertEqual(Advantages.grpo(rewards: g, config: c.advantage), [Double](repeating: 0, count: g.count))
        }
        let grouped = try Advantages.grpo(rewards: [1, 1, 0, 1], groupSize: 2, config: c.advantage)
        XCTAssertEqual(grouped[0], 0); XCTAssertEqual(grouped[1], 0)
        XCTAssertEqual(grouped[2], -0.5 / 0.5001, accuracy: 1e-12); XCTAssertEqual(grouped[3], 0.5 / 0.5001, accuracy: 1e-12)
        XCTAssertThrowsError(try Advantages.grpo(rewards: [1, 1, 0], groupSize: 2, config: c.advantage))
        print("GRPO: hand group (population/sample std), fractional group, 4 constant groups exactly 0; worst \(w.err)")
    }

    /// The hand tree of TreeTests: leaves 2 (R 1), 3 (R 0), 5 (R 0).
    func testIBTPOHandTree() throws {
        let t = try handTree()
        let c = RLConfig()   // β 5, λ .1, eps 1e-4
        // Leaf rewards [1,0,0]: mean 1/3, population std √(2/9); D = √(2/9) + 1e-4; p̂(root) = 1/3.
        let D = (2.0 / 9).squareRoot() + 1e-4
        // node: p̂, parent p̂, π̄ → A_GL = (p̂ − 1/3)/D, r, A_IB = (r − 1.2)·π̄
        //   1: .5, 1/3, .5  → GL = (1/6)/D,  r = 1.5,    IB = .3·.5   = .15
        //   2: 1,  .5,  .8  → GL = (2/3)/D,  r = 2,      IB = .8·.8   = .64
        //   3: 0,  .5,  .2  → GL = (−1/3)/D, r = 0,      IB = −1.2·.2 = −.24
        //   4: 0,  1/3, .4  → GL = (−1/3)/D, r = 0,      IB = −1.2·.4 = −.48
        //   5: 0,  0,   .5  → GL = (−1/3)/D, r := 1,     IB = −.2·.5  = −.1
        let gl: [Double] = [0, (1.0 / 6) / D, (2.0 / 3) / D, (-1.0 / 3) / D, (-1.0 / 3) / D, (-1.0 / 3) / D]
        let ib: [Double] = [0, 0.15, 0.64, -0.24, -0.48, -0.1]
        let a = try Advantages.ibtpoNodes(t, config: c.advantage)
        var w = Worst("IB-TPO node advantages (abs)")
        for i in 0..<6 {
            w.see(a.global[i], gl[i], denom: 1, "A_GL(\(i))")
            w.see(a.local[i], ib[i], denom: 1, "A_IB(\(i))")
            w.see(a.total[i], gl[i] + 0.1 * ib[i], denom: 1, "A(\(i))")
        }
        // A_GL of a leaf's segment = GRPO advantage over the leaves.
        let g = Advantages.grpo(rewards: [1, 0, 0], config: c.advantage)
        w.see(a.global[2], g[0], denom: 1, "leaf 2 = GRPO"); w.see(a.global[5], g[2], denom: 1, "leaf 5 = GRPO")
        // Tokens: [1,2] → A1 A1 A2; [1,3] → A1 A1 A3 A3; [4,5] → A4 A5 A5 A5.
        let tok = try Advantages.ibtpoTokens(t, config: c.advantage)
        let want: [[Int]] = [[1, 1, 2], [1, 1, 3, 3], [4, 5, 5, 5]]
        for (k, tr) in tok.enumerated() {
            XCTAssertEqual(tr.advantages.count, want[k].count)
            for (j, node) in want[k].enumerated() {
                w.see(Double(tr.advantages[j]), gl[node] + 0.1 * ib[node], denom: 1, "token \(j) of trajectory \(k)")
            }
        }
        // 1/√n(s): only node 1 (n = 2) changes: A(1)/√2.
        var cs = c; cs.sqrtNWeighting = true
        let s = try Advantages.ibtpoNodes(t, config: cs.advantage)
        w.see(s.total[1], (gl[1] + 0.1 * ib[1]) / 2.0.squareRoot(), denom: 1, "√n A(1)")
        for i in 2..<6 { w.see(s.total[i], gl[i] + 0.1 * ib[i], denom: 1, "√n A(\(i))") }
        w.check(2e-6)   // π̄ from Float log-probs
        // All leaves one reward → A_GL = 0 exactly; A_IB remains.
        var u = RolloutTree(promptLength: 0)
        let lp: [Float] = [Float(log(0.5))]
        let x = try u.addNode(parent: 0, tokens: [1], logps: lp)
        try u.addPath(parent: x, segments: [([2], lp)], reward: 0.1)
        try u.addPath(parent: x, segments: [([3], lp)], reward: 0.1)
        try u.addPath(parent: 0, segments: [([4], lp)], reward: 0.1)
        try u.finalize()
        let ua = try Advantages.ibtpoNodes(u, config: c.advantage)
        XCTAssertEqual(ua.global, [Double](repeating: 0, count: u.count))
        var unfinal = RolloutTree(promptLength: 0)
        try unfinal.addPath(parent: 0, segments: [([1], lp)], reward: 1)
        XCTAssertThrowsError(try Advantages.ibtpoNodes(unfinal, config: c.advantage))
        print("IB-TPO: hand-tree A_GL/A_IB/A per node and per token, √n option, constant tree; worst \(w.err)")
    }

    /// Chains only (B0 = G, no branching): with λ = 0 every token's advantage is the GRPO one.
    func testChainTreeMatchesGRPO() throws {
        var rng = Rng(seed: 11)
        var worst = Worst("chain tree vs GRPO (abs)")
        for trial in 0..<50 {
            let G = 2 + rng.nextInt(10)
            var c = RLConfig(); c.lambda = 0
            c.stdEstimator = trial % 2 == 0 ? .population : .sample
            var t = RolloutTree(promptLength: 5)
            var rewards: [Double] = [], lengths: [Int] = []
            for _ in 0..<G {
                let reward = trial % 3 == 0 ? Double(rng.nextInt(2)) : Double(rng.nextInt(5)) / 4
                let segs = (0..<(1 + rng.nextInt(4))).map { _ -> ([Int32], [Float]) in
                    let k = 1 + rng.nextInt(5)
                    return ((0..<k).map { _ in Int32(rng.nextInt(259)) }, (0..<k).map { _ in -rng.nextFloat() * 3 })
                }
                try t.addPath(parent: 0, segments: segs, reward: reward)
                rewards.append(reward); lengths.append(segs.reduce(0) { $0 + $1.0.count })
            }
            try t.finalize()
            let grpo = Advantages.grpo(rewards: rewards, config: c.advantage)
            let tok = try Advantages.ibtpoTokens(t, config: c.advantage)
            XCTAssertEqual(tok.count, G)
            for (i, tr) in tok.enumerated() {
                XCTAssertEqual(tr.advantages.count, lengths[i])
                for a in tr.advantages { worst.see(Double(a), Double(Float(grpo[i])), denom: 1, "trial \(trial) seq \(i)") }
            }
        }
        worst.check(1e-6)
        print("IB-TPO: 50 chain trees (λ = 0) equal GRPO per token")
    }

    func testConfigValidation() throws {
        XCTAssertNoThrow(try RLConfig().validate())
        XCTAssertNoThrow(try TreeConfig().validate())
        XCTAssertEqual(TreeConfig().trajectoriesPerPrompt, 12)
        var bad: [RLConfig] = []
        var c = RLConfig(); c.beta = 0; bad.append(c)
        c = RLConfig(); c.lambda = -1; bad.append(c)
        c = RLConfig(); c.advantageEps = .nan; bad.append(c)
        c = RLConfig(); c.clipLow = 1; bad.append(c)
        c = RLConfig(); c.clipHigh = -0.1; bad.append(c)
        c = RLConfig(); c.klCoef = -1; bad.append(c)
        c = RLConfig(); c.entropyCoef = .infinity; bad.append(c)
        c = RLConfig(); c.aggregation = .constant(0); bad.append(c)
        c = RLConfig(); c.epochs = 0; bad.append(c)
        c = RLConfig(); c.minibatches = 0; bad.append(c)
        c = RLConfig(); c.ratioWhenParentZero = .nan; bad.append(c)
        for b in bad {
            XCTAssertThrowsError(try b.validate()) { e in
                let err = e as? IBTPOError
                XCTAssertEqual(err?.status, .invalidArgument)
                XCTAssertTrue(err?.message.hasPrefix("rl config: ") ?? false)
            }
        }
        var tc = TreeConfig(); tc.topK = 0
        XCTAssertThrowsError(try tc.validate())
        print("config: defaults valid, \(bad.count) bad RLConfigs and a bad TreeConfig rejected")
    }
}
