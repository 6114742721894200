import XCTest
import Glibc
@testable import IBTPO

/// The hand-built tree used by the tree, IB-Score and advantage tests (prompt length 3):
///
///     root 0
///      ├─ 1: [10,11]  logp [ln .5, ln .5]   π̄ = .5 (product .25)
///      │    ├─ 2: [12]     logp [ln .8]        leaf, R = 1
///      │    └─ 3: [13,14]  logp [ln .2, ln .2] leaf, R = 0
///      └─ 4: [20]     logp [ln .4]          π̄ = .4
///           └─ 5: [21,22,23] logp 3 × ln .5  leaf, R = 0
///
/// n: 0→3, 1→2, 2→1, 3→1, 4→1, 5→1.  c: 0→1, 1→1, 2→1, others 0.
/// p̂: root 1/3, 1 → .5, 2 → 1, 3 → 0, 4 → 0, 5 → 0.
func handTree(piBar: PiBarForm = .lengthNormalized) throws -> RolloutTree {
    func l(_ p: Double, _ k: Int) -> [Float] { [Float](repeating: Float(log(p)), count: k) }
    var t = RolloutTree(promptLength: 3)
    let a = try t.addNode(parent: 0, tokens: [10, 11], logps: l(0.5, 2))
    try t.addPath(parent: a, segments: [([12], l(0.8, 1))], reward: 1)
    try t.addPath(parent: a, segments: [([13, 14], l(0.2, 2))], reward: 0)
    try t.addPath(parent: 0, segments: [([20], l(0.4, 1)), ([21, 22, 23], l(0.5, 3))], reward: 0)
    try t.finalize(piBar: piBar)
    return t
}

final class TreeTests: XCTestCase {
    func testStatisticsTrajectoriesShape() throws {
        let t = try handTree()
        var w = Worst("hand tree statistics (abs)")
        let wantN = [3, 2, 1, 1, 1, 1]
        let wantC: [Double] = [1, 1, 1, 0, 0, 0]
        let wantP: [Double] = [1.0 / 3, 0.5, 1, 0, 0, 0]
        let wantPi: [Double] = [1, 0.5, 0.8, 0.2, 0.4, 0.5]
        let wantDepth = [0, 1, 2, 2, 1, 2]
        for i in 0..<6 {
            XCTAssertEqual(t[i].n, wantN[i], "n(\(i))")
            XCTAssertEqual(t[i].depth, wantDepth[i], "depth(\(i))")
            w.see(t[i].c, wantC[i], denom: 1, "c(\(i))")
            w.see(t[i].pHat, wantP[i], denom: 1, "p̂(\(i))")
            w.see(t[i].piBar, wantPi[i], denom: 1, "π̄(\(i))")
        }
        // Product form: π̄(1) = .5·.5 = .25, π̄(3) = .04, π̄(5) = .125.
        let tp = try handTree(piBar: .product)
        w.see(tp[1].piBar, 0.25, denom: 1, "π̄prod(1)"); w.see(tp[3].piBar, 0.04, denom: 1, "π̄prod(3)")
        w.see(tp[5].piBar, 0.125, denom: 1, "π̄prod(5)")
        w.check(1e-6)

        let tr = t.trajectories()
        XCTAssertEqual(tr.map { $0.nodes }, [[1, 2], [1, 3], [4, 5]])
        XCTAssertEqual(tr.map { $0.tokens }, [[10, 11, 12], [10, 11, 13, 14], [20, 21, 22, 23]])
        XCTAssertEqual(tr.map { $0.tokenNodes }, [[1, 1, 2], [1, 1, 3, 3], [4, 5, 5, 5]])
        XCTAssertEqual(tr.map { $0.reward }, [1, 0, 0])
        XCTAssertEqual(tr[1].logps.count, 4)
        // Shape: 6 nodes, branch points root (depth 0) and 1 (depth 1) → mean depth .5; 2+1+2+1+3 = 9 tokens.
        XCTAssertEqual(t.shape, TreeShape(nodes: 6, branchPoints: 2, meanBranchDepth: 0.5, leaves: 3, generatedTokens: 9))
        print("tree: statistics, trajectories and shape of the hand tree checked; worst \(w.err)")
    }

    func testExpandableAndLengthCap() throws {
        let t = try handTree()
        // Prefix lengths: root 3, node 1: 3+2 = 5, node 4: 3+1 = 4. Leaves never expandable.
        XCTAssertEqual(t.expandable(lengthCap: 100), [0, 1, 4])
        XCTAssertEqual(t.expandable(lengthCap: 5), [0, 4])     // node 1 fills the cap (5 ≥ 5)
        XCTAssertEqual(t.expandable(lengthCap: 4), [0])
        XCTAssertEqual(t.expandable(lengthCap: 3), [])
        XCTAssertEqual(t.expandable(lengthCap: 100, includeRoot: false), [1, 4])
        print("tree: expandable nodes under caps 100/5/4/3 checked")
    }

    func testStructuralErrors() throws {
        var t = RolloutTree(promptLength: 0)
        XCTAssertThrowsError(try t.addNode(parent: 5, tokens: [1], logps: [0]))
        XCTAssertThrowsError(try t.addNode(parent: 0, tokens: [1, 2], logps: [0]))
        let a = try t.addNode(parent: 0, tokens: [1], logps: [0])
        XCTAssertThrowsError(try t.finalize())                 // dangling non-leaf
        try t.markLeaf(a, reward: 1)
        XCTAssertThrowsError(try t.addNode(parent: a, tokens: [1], logps: [0]))   // child of a leaf
        XCTAssertThrowsError(try t.markLeaf(0, reward: 1))     // root
        XCTAssertThrowsError(try t.markLeaf(a, reward: .nan))
        try t.finalize()
        XCTAssertTrue(t.isFinalized)
        _ = try t.addNode(parent: 0, tokens: [2], logps: [0])
        XCTAssertFalse(t.isFinalized)
        print("tree: 7 structural errors rejected")
    }

    func testSplitKeepsStatistics() throws {
        var t = try handTree()
        let before = t.trajectories().map { $0.tokens }
        // Split node 5 ([21,22,23], R = 0) after 1 token, node 3 ([13,14]) after 1 token.
        let tail5 = try t.split(node: 5, at: 1)
        XCTAssertEqual(tail5, 6)
        XCTAssertEqual(t[5].tokens, [21]); XCTAssertEqual(t[6].tokens, [22, 23])
        XCTAssertEqual(t[5].children, [6]); XCTAssertFalse(t[5].isLeaf); XCTAssertTrue(t[6].isLeaf)
        XCTAssertEqual(t[6].parent, 5); XCTAssertEqual(t[6].depth, 3)
        XCTAssertTrue(t.isFinalized)
        var w = Worst("split statistics (abs)")
        // Copied stats equal a fresh finalize; π̄ of both parts is .5.
        var fresh = t
        try fresh.finalize()
        for i in 0..<t.count {
            XCTAssertEqual(t[i].n, fresh[i].n, "n(\(i))")
            w.see(t[i].c, fresh[i].c, denom: 1, "c(\(i))")
            w.see(t[i].pHat, fresh[i].pHat, denom: 1, "p̂(\(i))")
            w.see(t[i].piBar, fresh[i].piBar, denom: 1, "π̄(\(i))")
        }
        var wp = Worst("split π̄ vs .5 (abs; Float log-probs)")
        wp.see(t[5].piBar, 0.5, denom: 1, "π̄(5)"); wp.see(t[6].piBar, 0.5, denom: 1, "π̄(6)")
        wp.check(1e-7)
        // Splitting a node with children: node 1 ([10,11]) after 1 token → 1 = [10], 7 = [11] with children 2, 3.
        let tail1 = try t.split(node: 1, at: 1)
        XCTAssertEqual(t[tail1].children, [2, 3]); XCTAssertEqual(t[2].parent, tail1)
        XCTAssertEqual(t[2].depth, 3); XCTAssertEqual(t[3].depth, 3)
        XCTAssertEqual(t[tail1].n, 2); w.see(t[tail1].pHat, 0.5, denom: 1, "p̂(tail of 1)")
        fresh = t
        try fresh.finalize()
        for i in 0..<t.count { w.see(t[i].pHat, fresh[i].pHat, denom: 1, "p̂(\(i)) after 2nd split") }
        XCTAssertEqual(t.trajectories().map { $0.tokens }, before)   // same sequences
        XCTAssertEqual(t.generatedTokens, 9)
        XCTAssertThrowsError(try t.split(node: 2, at: 1))           // 1-token segment
        XCTAssertThrowsError(try t.split(node: 0, at: 0))
        w.check(1e-12)
        print("tree: split keeps n/c/p̂/π̄ consistent with a fresh finalize and leaves the trajectories unchanged")
    }

    func testBranchNodesFromTokenPoints() throws {
        var t = try handTree()
        // (3,0): re-sample node 3's first token → branch from its parent 1.
        // (5,1), (5,2): two splits of node 5 applied in increasing offset: 5=[21], 6=[22], 7=[23].
        // (4,1): offset = segment length → node 4 itself.
        let ids = try t.branchNodes(for: [BranchPoint(node: 3, offset: 0), BranchPoint(node: 5, offset: 2),
                                          BranchPoint(node: 4, offset: 1), BranchPoint(node: 5, offset: 1)])
        XCTAssertEqual(ids, [1, 6, 4, 5])
        XCTAssertEqual(t[5].tokens, [21]); XCTAssertEqual(t[6].tokens, [22]); XCTAssertEqual(t[7].tokens, [23])
        XCTAssertEqual(t[7].parent, 6); XCTAssertTrue(t[7].isLeaf)
        XCTAssertEqual(t.prefixLength(6), 3 + 1 + 2)
        XCTAssertThrowsError(try t.branchNodes(for: [BranchPoint(node: 2, offset: 2)]))
        print("tree: branch points → nodes (parent, multi-split, node end) checked")
    }
}
