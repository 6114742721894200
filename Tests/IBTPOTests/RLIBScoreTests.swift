import XCTest
import Glibc
@testable import IBTPO

final class RLIBScoreTests: XCTestCase {
    func cfg(beta: Double = 5, rZero: Double = 1) -> IBScoreConfig {
        IBScoreConfig(beta: beta, ratioWhenParentZero: rZero)
    }

    /// IB-Scores of the hand tree (see handTree in TreeTests.swift), β = 5 → 1 + 1/β = 1.2, (1+β) = 6.
    func testHandScoresBeta5() throws {
        let t = try handTree()
        var w = Worst("IB-Score β=5 (abs)")
        // root (p̂ 1/3): child 1: r = .5/(1/3) = 1.5, η1 = .3, η2 = .5 → .15
        //               child 4: r = 0, η1 = −1.2, η2 = .4 → −.48
        //   IB = 6/2·(.15 − .48) = −.99;  mean η1 = −.45, mean η2 = .45,
        //   cov = ((.75)(.05) + (−.75)(−.05))/2 = .0375;  check 6·(−.2025 + .0375) = −.99.
        let r = IBScore.score(t, node: 0, config: cfg())!
        w.see(r.score, -0.99, denom: 1, "IB(root)"); w.see(r.cov, 0.0375, denom: 1, "cov(root)")
        // node 1 (p̂ .5): child 2: r = 2, η1 = .8, η2 = .8 → .64; child 3: r = 0, η1 = −1.2, η2 = .2 → −.24
        //   IB = 6/2·.40 = 1.2; mean η1 = −.2, mean η2 = .5, cov = ((1)(.3) + (−1)(−.3))/2 = .3
        let s1 = IBScore.score(t, node: 1, config: cfg())!
        w.see(s1.score, 1.2, denom: 1, "IB(1)"); w.see(s1.cov, 0.3, denom: 1, "cov(1)")
        // node 4: zero successes (p̂ 0) and a single child 5 (π̄ .5): r := 1 → η1 = −.2
        //   IB = 6/1·(−.2·.5) = −.6; cov = 0 (one child).
        let s4 = IBScore.score(t, node: 4, config: cfg())!
        w.see(s4.score, -0.6, denom: 1, "IB(4)"); w.see(s4.cov, 0, denom: 1, "cov(4)")
        // With r := 0 at p̂(s) = 0: η1 = −1.2 → IB(4) = 6·(−1.2·.5) = −3.6.
        w.see(IBScore.score(t, node: 4, config: cfg(rZero: 0))!.score, -3.6, denom: 1, "IB(4) r0=0")
        XCTAssertNil(IBScore.score(t, node: 2, config: cfg()))   // leaf
        // Identity IB = (1+β)(m1·m2 + cov) on every scored node.
        for s in IBScore.scores(t, config: cfg()) {
            w.see(s.score, 6 * (s.meanEta1 * s.meanEta2 + s.cov), denom: 1, "identity at \(s.node)")
        }
        // π̄ comes from Float log-probs (≈1e-8 relative), so 1e-6 absolute.
        w.check(1e-6)
        // Selection: 1 (1.2) > 4 (−.6) > root (−.99).
        XCTAssertEqual(BranchSelection.ib(t, k: 1, lengthCap: 100, config: cfg()), [1])
        XCTAssertEqual(BranchSelection.ib(t, k: 3, lengthCap: 100, config: cfg()), [1, 4, 0])
        XCTAssertEqual(BranchSelection.ib(t, k: 9, lengthCap: 100, config: cfg()), [1, 4, 0])
        XCTAssertEqual(BranchSelection.ib(t, k: 2, lengthCap: 5, config: cfg()), [4, 0])   // 1 is at the cap
        // With r := 0 node 4 drops to −3.6 below the root.
        XCTAssertEqual(BranchSelection.ib(t, k: 3, lengthCap: 100, config: cfg(rZero: 0)), [1, 0, 4])
        print("IB: hand scores (zero-success parent, single child, r0 option) and top-K checked; worst \(w.err)")
    }

    func testBetaVariations() throws {
        let t = try handTree()
        var w = Worst("IB-Score β variations (abs)")
        // β = 1: offset 2, factor 2.
        //   root: (1.5−2)·.5 = −.25, (0−2)·.4 = −.8 → 2/2·(−1.05) = −1.05
        //   1:    (2−2)·.8 = 0,      (0−2)·.2 = −.4 → 2/2·(−.4) = −.4
        //   4:    (1−2)·.5 = −.5                     → 2/1·(−.5) = −1.0
        w.see(IBScore.score(t, node: 0, config: cfg(beta: 1))!.score, -1.05, denom: 1, "β1 root")
        w.see(IBScore.score(t, node: 1, config: cfg(beta: 1))!.score, -0.4, denom: 1, "β1 node1")
        w.see(IBScore.score(t, node: 4, config: cfg(beta: 1))!.score, -1.0, denom: 1, "β1 node4")
        XCTAssertEqual(BranchSelection.ib(t, k: 3, lengthCap: 100, config: cfg(beta: 1)), [1, 4, 0])
        // β = .5: offset 3, factor 1.5.
        //   root: (1.5−3)·.5 = −.75, (−3)·.4 = −1.2 → 1.5/2·(−1.95) = −1.4625
        //   1:    (2−3)·.8 = −.8,   (−3)·.2 = −.6  → 1.5/2·(−1.4) = −1.05
        //   4:    (1−3)·.5 = −1                     → 1.5·(−1) = −1.5
        w.see(IBScore.score(t, node: 0, config: cfg(beta: 0.5))!.score, -1.4625, denom: 1, "β.5 root")
        w.see(IBScore.score(t, node: 1, config: cfg(beta: 0.5))!.score, -1.05, denom: 1, "β.5 node1")
        w.see(IBScore.score(t, node: 4, config: cfg(beta: 0.5))!.score, -1.5, denom: 1, "β.5 node4")
        XCTAssertEqual(BranchSelection.ib(t, k: 3, lengthCap: 100, config: cfg(beta: 0.5)), [1, 0, 4])
        // β = 100: offset 1.01, factor 101.
        //   1: (2−1.01)·.8 = .792, (−1.01)·.2 = −.202 → 101/2·.59 = 29.795
        w.see(IBScore.score(t, node: 1, config: cfg(beta: 100))!.score, 29.795, denom: 1, "β100 node1")
        w.check(1e-6)
        print("IB: β = 1, 0.5, 100 scores and orders checked; worst \(w.err)")
    }

    /// Equal scores: lower depth first, then lower id.
    func testTies() throws {
        // All rewards 0 → every p̂ = 0 → r := 1, η1 = −.2; every segment one token of logp ln .5 → η2 = .5.
        // Single-child nodes: IB = 6·(−.1) = −.6; root with 2 children: 6/2·(2·(−.1)) = −.6. All tie.
        //   root 0 ─ 1 (d1) ─ 2 (d2) ─ 3 leaf
        //          └ 4 (d1) ─ 5 leaf
        let lp: [Float] = [Float(log(0.5))]
        var t = RolloutTree(promptLength: 0)
        let a = try t.addNode(parent: 0, tokens: [1], logps: lp)
        try t.addPath(parent: a, segments: [([2], lp), ([3], lp)], reward: 0)
        try t.addPath(parent: 0, segments: [([4], lp), ([5], lp)], reward: 0)
        try t.finalize()
        let s = IBScore.scores(t, config: cfg())
        XCTAssertEqual(Set(s.map { $0.score }).count, 1, "all scores tie: \(s.map { $0.score })")
        // Node 2 (depth 2, id 2) comes after node 4 (depth 1, id 4): depth before id.
        XCTAssertEqual(BranchSelection.ib(t, k: 4, lengthCap: 100, config: cfg()), [0, 1, 4, 2])
        XCTAssertEqual(BranchSelection.ib(t, k: 2, lengthCap: 100, config: cfg()), [0, 1])
        XCTAssertEqual(BranchSelection.fixed(t, maxDepth: 1, lengthCap: 100), [0, 1, 4])
        XCTAssertEqual(BranchSelection.fixed(t, maxDepth: 0, lengthCap: 100), [0])
        print("IB: tie order (score, depth, id) and fixed-depth selection checked; score \(s[0].score)")
    }

    func testRandomAndEntropyRules() throws {
        let t = try handTree()
        var rng = Rng(seed: 7), rng2 = Rng(seed: 7)
        var counts = [Int: Int]()
        let draws = 30000
        for _ in 0..<draws {
            let p = BranchSelection.random(t, k: 2, lengthCap: 100, rng: &rng)
            XCTAssertEqual(p.count, 2); XCTAssertNotEqual(p[0], p[1])
            for x in p { counts[x, default: 0] += 1 }
        }
        // Each of the 3 expandable nodes is in a uniform 2-subset with probability 2/3.
        var w = Worst("random rule inclusion frequency (abs)")
        for id in [0, 1, 4] { w.see(Double(counts[id] ?? 0) / Double(draws), 2.0 / 3, denom: 1, "node \(id)") }
        XCTAssertEqual(Set(counts.keys), [0, 1, 4])
        XCTAssertEqual(BranchSelection.random(t, k: 9, lengthCap: 100, rng: &rng2).sorted(), [0, 1, 4])
        w.check(0.02)

        // Entropy rule: logps ln .2 (node 3, offsets 0 and 1) < ln .4 (node 4) < ln .5 (node 1, 5) < ln .8.
        XCTAssertEqual(BranchSelection.entropy(t, k: 3, lengthCap: 100),
                       [BranchPoint(node: 3, offset: 0), BranchPoint(node: 3, offset: 1), BranchPoint(node: 4, offset: 0)])
        // Cap 6: node 3's tokens sit after prefix 3 + 2 = 5 (offset 0, allowed) and 6 (offset 1, not).
        XCTAssertEqual(BranchSelection.entropy(t, k: 2, lengthCap: 6),
                       [BranchPoint(node: 3, offset: 0), BranchPoint(node: 4, offset: 0)])
        // Ties among ln .5: node 1 (depth 1) offsets 0, 1 before node 5 (depth 2).
        XCTAssertEqual(Array(BranchSelection.entropy(t, k: 5, lengthCap: 100)[3...]),
                       [BranchPoint(node: 1, offset: 0), BranchPoint(node: 1, offset: 1)])
        var rng3 = Rng(seed: 1)
        let viaSelect = BranchSelection.select(.ib, tree: t, k: 1, lengthCap: 100, config: cfg(), fixedMaxDepth: 1, rng: &rng3)
        XCTAssertEqual(viaSelect, [BranchPoint(node: 1, offset: 2)])
        XCTAssertEqual(BranchRule.ib.rawValue, 0); XCTAssertEqual(BranchRule.random.rawValue, 1)
        XCTAssertEqual(BranchRule.entropy.rawValue, 2); XCTAssertEqual(BranchRule.fixed.rawValue, 3)
        print("IB: random rule uniformity (worst \(w.err)), entropy token points with caps and ties checked")
    }
}
