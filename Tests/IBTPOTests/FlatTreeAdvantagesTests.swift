import Glibc
import XCTest
@testable import IBTPO

/// `FlatTreeAdvantages` (behind ibtpo_tree_advantages) against the tree path it replaced:
/// a `RolloutTree` with one single-token segment per node, `finalize`, `Advantages.ibtpoNodes`
/// and `IBScore.score`. Bit-identical results; non-finite outputs refused with the output
/// arrays untouched. (The C test checks the same call against double-precision formulas.)
final class FlatTreeAdvantagesTests: XCTestCase {
    struct Tree { var parent: [Int32]; var tokens: [Int32]; var logp: [Float]; var reward: [Float] }

    static func randomTree(_ n: Int, seed: UInt64) -> Tree {
        var x = seed | 1
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        var t = Tree(parent: [-1], tokens: [0], logp: [0], reward: [0])
        for i in 1..<n {
            let r = next()
            t.parent.append(Int32(r % UInt64(min(i, 3 + i / 3))))
            t.tokens.append(Int32(1 + (r >> 20) % 9))
            t.logp.append(-Float((r >> 30) % 1000) / 300)
            t.reward.append(Float((r >> 45) % 5) / 4)
        }
        return t
    }

    /// The oracle: the RolloutTree path (what ibtpo_tree_advantages did before).
    static func viaRolloutTree(_ t: Tree, _ config: RLConfig) throws -> (score: [Double], adv: [Double]) {
        let n = t.parent.count
        var tree = RolloutTree(promptLength: 1, reserveNodes: n)
        var hasChild = [Bool](repeating: false, count: n)
        for i in 1..<n {
            let lp = config.piBarForm == .lengthNormalized ? t.logp[i] : t.logp[i] * Float(t.tokens[i])
            try tree.addNode(parent: Int(t.parent[i]), tokens: [0], logps: [lp])
            hasChild[Int(t.parent[i])] = true
        }
        for i in 1..<n where !hasChild[i] { try tree.markLeaf(i, reward: Double(t.reward[i])) }
        try tree.finalize(piBar: config.piBarForm)
        let adv = try Advantages.ibtpoNodes(tree, config: config.advantage)
        return ((0..<n).map { IBScore.score(tree, node: $0, config: config.ibScore)?.score ?? .nan }, adv.total)
    }

    static func flat(_ t: Tree, _ config: RLConfig, score: inout [Double], adv: inout [Double]) throws {
        try FlatTreeAdvantages.compute(config: config, n: t.parent.count, parent: t.parent, tokenCount: t.tokens,
                                       meanLogp: t.logp, reward: t.reward, outScore: &score, outAdvantage: &adv)
    }

    func testBitIdenticalToTheRolloutTreePath() throws {
        var configs: [RLConfig] = []
        for (beta, lambda, rwpz, form, sqrtN) in [(5.0, 0.1, 1.0, PiBarForm.lengthNormalized, false),
                                                  (2, 0.5, 0.7, .product, false), (0.5, 0, 0, .lengthNormalized, true),
                                                  (3, 0.2, 0.5, .product, true)] {
            var c = RLConfig()
            c.beta = beta; c.lambda = lambda; c.ratioWhenParentZero = rwpz; c.piBarForm = form; c.sqrtNWeighting = sqrtN
            configs.append(c)
        }
        var compared = 0, differ = 0
        for (k, c) in configs.enumerated() {
            for (n, seed) in [(2, 1), (3, 2), (10, 3), (300, 4), (5000, 5)] {
                let t = Self.randomTree(n, seed: UInt64(seed * 7919 + k))
                let want = try Self.viaRolloutTree(t, c)
                var s = [Double](repeating: 7, count: n), a = [Double](repeating: 7, count: n)
                try Self.flat(t, c, score: &s, adv: &a)
                for i in 0..<n {
                    compared += 2
                    if s[i].bitPattern != want.score[i].bitPattern && !(s[i].isNaN && want.score[i].isNaN) { differ += 1 }
                    if a[i].bitPattern != want.adv[i].bitPattern { differ += 1 }
                }
            }
        }
        print("flat tree advantages vs the RolloutTree path: \(compared) values compared, \(differ) differ (bit patterns)")
        XCTAssertEqual(differ, 0)
    }

    /// Settings whose outputs cannot be finite are refused, and the outputs stay untouched.
    func testNonFiniteOutputsAreRefusedWithOutputsUntouched() throws {
        let t = Self.randomTree(50, seed: 11)
        var cases: [(String, RLConfig)] = []
        var c = RLConfig(); c.beta = 1e-310; cases.append(("beta 1e-310", c))
        c = RLConfig(); c.lambda = 1e308; cases.append(("lambda 1e308", c))
        c = RLConfig(); c.ratioWhenParentZero = 1e308; cases.append(("ratio_when_parent_zero 1e308", c))
        c = RLConfig(); c.ratioWhenParentZero = -1e308; c.lambda = 10; cases.append(("ratio_when_parent_zero -1e308, lambda 10", c))
        // p̂(parent) = 0 somewhere, so ratio_when_parent_zero is used: make every leaf reward 0 under node 1
        var t0 = t
        for i in 1..<t0.reward.count { t0.reward[i] = 0 }
        t0.reward[t0.reward.count - 1] = 1
        for (what, config) in cases {
            var s = [Double](repeating: 42, count: 50), a = [Double](repeating: 42, count: 50)
            XCTAssertThrowsError(try Self.flat(t0, config, score: &s, adv: &a), what) { e in
                let e = e as! IBTPOError
                XCTAssertEqual(e.status, .invalidArgument)
                XCTAssertTrue(e.message.contains("not finite"), e.message)
                print("\(what): \(e.message)")
            }
            XCTAssertTrue(s.allSatisfy { $0 == 42 } && a.allSatisfy { $0 == 42 }, "\(what): outputs touched")
        }
    }
}
