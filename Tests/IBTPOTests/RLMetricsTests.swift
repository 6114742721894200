import XCTest
import Glibc
@testable import IBTPO

final class RLMetricsTests: XCTestCase {
    func testEffRateAvgRate() {
        // Groups: [1,0,1,1] mixed, [0,0,0] constant, [1,1] constant, [.5,0] mixed → Eff-Rate 2/4.
        // Avg-Rate: (3 + 0 + 2 + .5)/11 = 5.5/11 = .5.
        let g: [[Double]] = [[1, 0, 1, 1], [0, 0, 0], [1, 1], [0.5, 0]]
        let (eff, avg) = Metrics.rates(groups: g)
        XCTAssertEqual(eff, 0.5); XCTAssertEqual(avg, 0.5, accuracy: 1e-15)
        XCTAssertEqual(Metrics.rates(groups: []).effRate, 0)
        XCTAssertEqual(Metrics.rates(groups: [[0, 0]]).effRate, 0)
        // 11 trajectories over 2,200 tokens → 5 per 1,000.
        let m = Metrics.groups(g, generatedTokens: 2200)
        XCTAssertEqual(m.trajectories, 11); XCTAssertEqual(m.prompts, 4)
        XCTAssertEqual(m.trajectoriesPerKTokens, 5, accuracy: 1e-12)
        print("metrics: Eff-Rate 0.5 and Avg-Rate 0.5 on 4 hand groups, 5 trajectories / 1k tokens")
    }

    func testTreeMetrics() throws {
        let t = try handTree()
        // Hand tree: 3 trajectories; generated tokens 2 + 1 + 2 + 1 + 3 = 9 (prefix [10,11] counted once;
        // the trajectories hold 3 + 4 + 4 = 11 tokens) → 3/9·1000 = 333.33…
        var second = RolloutTree(promptLength: 2)
        try second.addPath(parent: 0, segments: [([1, 2, 3], [-0.1, -0.1, -0.1])], reward: 1)
        try second.addPath(parent: 0, segments: [([4], [-0.1])], reward: 1)
        try second.finalize()
        let m = Metrics.trees([t], config: RLConfig())
        XCTAssertEqual(m.generatedTokens, 9)
        XCTAssertEqual(t.trajectories().reduce(0) { $0 + $1.tokens.count }, 11)
        XCTAssertEqual(m.trajectoriesPerKTokens, 3000.0 / 9, accuracy: 1e-9)
        // Nodes with ≥ 2 children: root (IB −.99, cov .0375) and 1 (IB 1.2, cov .3) → means .105, .16875.
        XCTAssertEqual(m.scoredNodes, 2)
        XCTAssertEqual(m.meanIBScore, 0.105, accuracy: 1e-6)
        XCTAssertEqual(m.meanCov, 0.16875, accuracy: 1e-6)
        // Two trees: Eff-Rate 1/2 (the second is all 1), Avg-Rate (1 + 2)/5 = .6, tokens 9 + 4 = 13.
        // Branch points: hand tree root (d0) + node 1 (d1), second tree root (d0) → mean depth 1/3.
        let m2 = Metrics.trees([t, second], config: RLConfig())
        XCTAssertEqual(m2.effRate, 0.5); XCTAssertEqual(m2.avgRate, 0.6, accuracy: 1e-15)
        XCTAssertEqual(m2.generatedTokens, 13); XCTAssertEqual(m2.trajectories, 5)
        XCTAssertEqual(m2.trajectoriesPerKTokens, 5000.0 / 13, accuracy: 1e-9)
        XCTAssertEqual(m2.shape.nodes, 9); XCTAssertEqual(m2.shape.branchPoints, 3)
        XCTAssertEqual(m2.shape.meanBranchDepth, 1.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(m2.scoredNodes, 3)
        print("metrics: trajectories per 1k tokens with a shared prefix counted once, IB/cov means, 2-tree batch")
    }
}
