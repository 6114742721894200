import XCTest
@testable import IBTPO

final class TreeSamplerTests: XCTestCase {
    /// A random model over a 40-token vocabulary where token 10 is the step delimiter and 0 is EOS.
    func makeModel(slots: Int, threads: Int = 2) throws -> Model {
        let cfg = ModelConfig(vocab: 40, dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 64, maxSeq: 48)
        let m = try Model(config: cfg, shape: TrainShape(batch: 1, seq: 48), threads: threads, seed: 5, decodeSlots: slots)
        var rng = Rng(seed: 17)
        for t in m.layout.tensors where t.shape.count > 1 {
            for j in 0..<t.count { m.params[t.offset + j] = rng.nextGaussian() * 0.3 }
        }
        // Make the delimiter (10) likely so that trees have several steps.
        for j in 0..<cfg.dModel { m.params[m.layout.lmHead + 10 * cfg.dModel + j] *= 3 }
        return m
    }

    let prompts: [[Int32]] = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    let sampling = SamplingParams(temperature: 1, maxNewTokens: 24, eos: 0)
    /// A deterministic reward from the completion's tokens.
    func reward(_ p: Int, _ c: [Int32]) -> Double { Double((c.reduce(0) { $0 + Int($1) } + p) % 2) }

    func grow(_ m: Model, _ prompts: [[Int32]], _ tc: TreeConfig, seed: UInt64 = 3) throws -> TreeBatch {
        guard let d = m.decoder else { throw IBTPOError(.internalError, "no decoder") }
        return try TreeSampler.sample(decoder: d, prompts: prompts, delimiter: [10], tree: tc, scoring: RLConfig().ibScore,
                                      sampling: sampling, seed: seed, reward: reward)
    }

    /// Every trajectory of every rule's tree has per-token log-probs equal to a full forward
    /// pass over prompt + trajectory (so copy-on-branch continued from the right prefix), the
    /// tree has G leaves, and generated tokens = Σ segment lengths < Σ trajectory lengths.
    func testTreesAreExactAndAccounted() throws {
        let m = try makeModel(slots: prompts.count * 12)
        var worst = Worst("tree trajectory logp vs forward")
        for rule in [BranchRule.ib, .random, .entropy, .fixed] {
            var tc = TreeConfig()
            tc.initialBranches = 4; tc.rounds = 9; tc.topK = 1; tc.branchWidth = 1; tc.rule = rule
            let batch = try grow(m, prompts, tc)
            var trajTokens = 0, segTokens = 0
            for (p, tree) in batch.trees.enumerated() {
                let trajs = tree.trajectories()
                XCTAssertEqual(trajs.count, tc.trajectoriesPerPrompt, "\(rule) prompt \(p)")
                segTokens += tree.generatedTokens
                for tr in trajs {
                    trajTokens += tr.tokens.count
                    let seq = prompts[p] + tr.tokens
                    XCTAssertLessThanOrEqual(seq.count, 48)
                    for t in 0..<48 {
                        m.tokens[t] = t < seq.count ? seq[t] : 0
                        m.targets[t] = t + 1 < seq.count && t + 1 >= prompts[p].count ? seq[t + 1] : -1
                    }
                    m.forward()
                    for (k, lp) in tr.logps.enumerated() {
                        worst.see(Double(lp), Double(m.logp[prompts[p].count - 1 + k]), denom: 1,
                                  "\(rule) prompt \(p) leaf \(tr.leaf) token \(k)")
                    }
                    var c = tr.tokens
                    if c.last == 0 { c.removeLast() }
                    XCTAssertEqual(tr.reward, reward(p, c))
                }
            }
            XCTAssertEqual(batch.generatedTokens, segTokens, "\(rule)")
            let shape = Metrics.trees(batch.trees, config: RLConfig()).shape
            print("\(rule): \(batch.trees.count) trees, \(shape.nodes) nodes, \(shape.branchPoints) branch points, "
                + "\(batch.generatedTokens) generated tokens for \(trajTokens) trajectory tokens")
            if rule != .fixed { XCTAssertLessThan(batch.generatedTokens, trajTokens, "\(rule) shares no prefix") }
        }
        print(worst)
        worst.check(1e-4)
    }

    /// Every branch of rounds 2...L, under every rule, continues from exactly the prefix its
    /// branch point names: it hangs under the node that ends at that point, its trajectory
    /// starts with those tokens, and so does the source trajectory whose cache it copied.
    /// (Before the fix, a point inside a segment that a split had cut lost its source and
    /// silently became a fresh sample from the root: 31 of 32 entropy points on an untrained
    /// policy.) Also checks the counts: G − B0 branches per tree.
    func testEveryBranchSharesItsNamedPrefix() throws {
        let m = try makeModel(slots: prompts.count * 12)
        var rootBranches: [BranchRule: Int] = [:], total: [BranchRule: Int] = [:]
        for rule in [BranchRule.ib, .random, .entropy, .fixed] {
            for expandRoot in [true, false] {
                var tc = TreeConfig()
                tc.initialBranches = 4; tc.rounds = 9; tc.rule = rule; tc.expandRoot = expandRoot
                let batch = try grow(m, prompts, tc)
                for (p, tree) in batch.trees.enumerated() {
                    let records = batch.branches[p]
                    if rule != .fixed {
                        XCTAssertEqual(records.count, tc.trajectoriesPerPrompt - tc.initialBranches, "\(rule) prompt \(p)")
                    }
                    // Trajectory → its leaf (every trajectory ends in exactly one leaf).
                    var leafOf: [Int: Int] = [:]
                    for leaf in tree.leaves { XCTAssertNil(leafOf.updateValue(leaf, forKey: tree[leaf].trajectory)) }
                    for r in records {
                        let what = "\(rule) root=\(expandRoot) prompt \(p) round \(r.round) point \(r.point)"
                        total[rule, default: 0] += 1
                        // The prefix the point names, read off the final tree alone: a split keeps
                        // the point's node id on the first part and leaves where its segment starts
                        // unchanged, so the point is `offset` tokens after that start, and every
                        // leaf under the node carries those tokens.
                        let x = tree[r.point.node]
                        let named = r.point.node == RolloutTree.root ? 0 : x.pathTokens - x.tokens.count + r.point.offset
                        var under = r.point.node
                        while !tree[under].isLeaf, let c = tree[under].children.first { under = c }
                        let namedPrefix = Array(tree.tokens(through: under).prefix(named))
                        XCTAssertEqual(namedPrefix.count, named, what)
                        if named == 0 { rootBranches[rule, default: 0] += 1 }
                        // The branch's own nodes carry its trajectory; the first one must start
                        // exactly where the point is, after exactly the named tokens.
                        XCTAssertEqual(tree[r.leaf].trajectory, r.trajectory, what)
                        let leafPath = tree.path(to: r.leaf)
                        let own = try XCTUnwrap(leafPath.first { tree[$0].trajectory == r.trajectory }, what)
                        XCTAssertEqual(tree[own].pathTokens - tree[own].tokens.count, named,
                                       "\(what): the branch starts after \(tree[own].pathTokens - tree[own].tokens.count) tokens")
                        XCTAssertTrue(tree.tokens(through: r.leaf).starts(with: namedPrefix), "\(what): branch does not share its prefix")
                        XCTAssertEqual(r.prefix, namedPrefix, what)
                        if named > 0 {
                            let src = try XCTUnwrap(leafOf[r.source], "\(what): no leaf for source trajectory \(r.source)")
                            XCTAssertTrue(tree.tokens(through: src).starts(with: namedPrefix), "\(what): source \(r.source) lacks the prefix")
                        }
                    }
                }
            }
        }
        print("branches from the root / all branches, per rule: "
            + [BranchRule.ib, .random, .entropy, .fixed].map { "\($0) \(rootBranches[$0] ?? 0)/\(total[$0] ?? 0)" }.joined(separator: ", "))
        // The entropy rule picks token positions inside segments: on this policy most of them
        // are interior, so most branches must share a non-empty prefix.
        XCTAssertLessThan(rootBranches[.entropy] ?? 0, (total[.entropy] ?? 0) / 2)
    }

    /// Independent sampling (B0 = G, L = 1) gives G single chains whose tokens are counted once each.
    func testIndependentSamplingIsChains() throws {
        let m = try makeModel(slots: prompts.count * 8)
        var tc = TreeConfig()
        tc.initialBranches = 8; tc.rounds = 1
        let batch = try grow(m, prompts, tc)
        for tree in batch.trees {
            XCTAssertEqual(tree.leaves.count, 8)
            for n in 0..<tree.count where n != 0 { XCTAssertLessThanOrEqual(tree[n].children.count, 1) }
            XCTAssertEqual(tree[0].children.count, 8)
        }
        XCTAssertEqual(batch.generatedTokens, batch.trees.reduce(0) { $0 + $1.trajectories().reduce(0) { $0 + $1.tokens.count } })
    }

    /// Same seed → same trees; a prompt's tree does not change when other prompts are appended
    /// to the batch (trajectory RNGs are seeded by (seed, prompt index, trajectory)) or with the
    /// thread count.
    func testDeterministicAcrossBatchAndThreads() throws {
        var tc = TreeConfig()
        tc.initialBranches = 3; tc.rounds = 4; tc.rule = .random
        let a = try grow(try makeModel(slots: 3 * 6), prompts, tc)
        let b = try grow(try makeModel(slots: 3 * 6, threads: 1), prompts, tc)
        let alone = try grow(try makeModel(slots: 6), [prompts[0]], tc)
        XCTAssertEqual(a.trees, b.trees)
        XCTAssertEqual(a.trees[0].trajectories().map(\.tokens), alone.trees[0].trajectories().map(\.tokens))
        XCTAssertThrowsError(try grow(try makeModel(slots: 4), prompts, tc)) { e in print("too few slots: \(e)") }
        print("trees identical across 1/2 threads and batch composition (\(a.trees.map(\.count)) nodes)")
    }

    func testSplitSteps() {
        let s = TreeSampler.splitSteps([1, 10, 2, 3, 10, 4, 0], [0, 1, 2, 3, 4, 5, 6], delimiter: [10])
        XCTAssertEqual(s.map(\.0), [[1, 10], [2, 3, 10], [4, 0]])
        XCTAssertEqual(s.map(\.1), [[0, 1], [2, 3, 4], [5, 6]])
        XCTAssertEqual(TreeSampler.splitSteps([10, 10], [0, 0], delimiter: [10, 10]).map(\.0), [[10, 10]])
    }
}
