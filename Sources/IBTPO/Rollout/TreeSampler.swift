/// One branch the sampler grew in rounds 2...L: where it was asked to start, and where it
/// landed in the final tree. Lets callers (and tests) check that every branch shares
/// exactly the prefix its branch point names.
public struct BranchRecord: Equatable, Sendable {
    /// Round (2...L) in which the branch was sampled.
    public var round: Int
    /// The point the rule chose, in the tree as it was at selection time.
    public var point: BranchPoint
    /// Response tokens before that point (what the branch must share).
    public var prefix: [Int32]
    /// The node the branch was inserted under (a split may have created it).
    public var parent: Int
    /// The trajectory (decoder slot of the prompt) the branch was sampled into, and the
    /// trajectory whose cache held the prefix (-1: sampled from the prompt alone).
    public var trajectory: Int
    public var source: Int
    /// The leaf that ends the branch in the final tree.
    public var leaf: Int
}

/// The trees of one batch of prompts, with what it cost to grow them.
public struct TreeBatch: Sendable {
    /// One finalized tree per prompt.
    public var trees: [RolloutTree]
    /// Sampled tokens (prompts never counted; a shared prefix is generated once).
    public var generatedTokens: Int
    /// Per prompt, every branch of rounds 2...L in the order it was sampled.
    public var branches: [[BranchRecord]]
    public var seconds: Double
}

/// IBTree and its comparison rules (docs/algorithm.md §4): all prompts of a batch advance round by
/// round together, so one decode batch holds every active branch of every tree.
///
///     round 1:     B0 independent responses from the root, split into step nodes
///     rounds 2..L: the rule picks K branch points (it reads the tree, never edits it); the
///                  sampler turns them into nodes (splitting a segment for a token-level
///                  point) and from each samples B continuations that share its prefix,
///                  copied from the cache of the trajectory recorded on that node
///
/// Independent sampling (GRPO) is the same engine with B0 = G and L = 1. Steps end *after*
/// the task's delimiter tokens; the final step ends at EOS (included) or the length cap.
public enum TreeSampler {
    /// Grows one tree per prompt. `prompts` are token sequences as fed to the model (start
    /// with BOS); `reward(p, completion)` scores prompt p's completion tokens (EOS excluded)
    /// and must return a finite value in [0, 1]. The decoder needs prompts × G slots.
    /// `scoring` gives β and the [choice]s the IB rule and the tree statistics use.
    /// Throws `.internalError` if a branch point's node has no trajectory to copy from
    /// (never a silent fresh sample).
    public static func sample(decoder: Decoder, prompts: [[Int32]], delimiter: [Int32], tree tc: TreeConfig,
                              scoring: IBScoreConfig, sampling: SamplingParams, seed: UInt64,
                              reward: (Int, [Int32]) throws -> Double) throws -> TreeBatch {
        try tc.validate()
        try scoring.validate()
        guard !delimiter.isEmpty else { throw invalid("the step delimiter must not be empty") }
        let t0 = monotonicSeconds()
        let G = tc.trajectoriesPerPrompt
        let engine = try BranchDecoder(decoder: decoder, prompts: prompts, trajectoriesPerPrompt: G,
                                       params: sampling, seed: seed)
        let eos = sampling.eos
        var trees = prompts.map { RolloutTree(promptLength: $0.count, reserveNodes: 4 * G) }
        var records = [[BranchRecord]](repeating: [], count: prompts.count)
        var nextTraj = [Int](repeating: 0, count: prompts.count)
        // Per-prompt selection RNGs (the random rule), so a tree does not depend on its batch.
        var selectRngs = (0..<prompts.count).map { Rng(seed: RolloutSampler.sequenceSeed(seed ^ 0x7EE5_E1EC, prompt: $0, sample: -1)) }

        // Inserts a finished continuation under its request's parent; returns the leaf id.
        func insert(_ r: BranchRequest, _ out: BranchResult) throws -> Int {
            let segments = splitSteps(out.tokens, out.logp, delimiter: delimiter)
            var completion = r.prefix + out.tokens
            if let eos, completion.last == eos { completion.removeLast() }
            let value = try reward(r.prompt, completion)
            guard value.isFinite && value >= 0 && value <= 1 else {
                throw IBTPOError(.callbackFailed, "reward for prompt \(r.prompt) is \(value); rewards must be in [0, 1]")
            }
            let ids = try trees[r.prompt].addPath(parent: r.parent, segments: segments, reward: value,
                                                  trajectory: r.trajectory)
            guard let leaf = ids.last else { throw IBTPOError(.internalError, "tree sampler: empty path") }
            return leaf
        }

        // Round 1: B0 independent responses per prompt.
        var requests: [BranchRequest] = []
        for p in 0..<prompts.count {
            for _ in 0..<tc.initialBranches {
                requests.append(BranchRequest(prompt: p, trajectory: nextTraj[p], source: -1, prefix: [],
                                              parent: RolloutTree.root))
                nextTraj[p] += 1
            }
        }
        for (r, out) in zip(requests, try engine.run(requests)) { _ = try insert(r, out) }
        // Rounds 2..L.
        if tc.rounds > 1 {
            for round in 2...tc.rounds {
                requests = []
                var pending: [BranchRecord] = []
                for p in 0..<prompts.count {
                    try trees[p].finalize(piBar: scoring.piBarForm)
                    let cap = min(decoder.config.maxSeq - 1, prompts[p].count + sampling.maxNewTokens)
                    let points = selectPoints(tc, trees[p], lengthCap: cap, scoring: scoring, rng: &selectRngs[p])
                    let prefixes = points.map { trees[p].tokens(before: $0) }
                    let nodes = try trees[p].branchNodes(for: points)
                    for (i, s) in nodes.enumerated() {
                        let source = trees[p][s].trajectory
                        guard s == RolloutTree.root || source >= 0 else {
                            throw IBTPOError(.internalError, "tree sampler: branch node \(s) of prompt \(p) has no trajectory")
                        }
                        guard trees[p].tokens(through: s) == prefixes[i] else {
                            throw IBTPOError(.internalError, "tree sampler: branch node \(s) does not end at point \(points[i])")
                        }
                        for _ in 0..<tc.branchWidth where nextTraj[p] < G {
                            requests.append(BranchRequest(prompt: p, trajectory: nextTraj[p], source: source,
                                                          prefix: prefixes[i], parent: s))
                            pending.append(BranchRecord(round: round, point: points[i], prefix: prefixes[i], parent: s,
                                                        trajectory: nextTraj[p], source: source, leaf: -1))
                            nextTraj[p] += 1
                        }
                    }
                }
                if requests.isEmpty { break }
                for (i, out) in try engine.run(requests).enumerated() {
                    pending[i].leaf = try insert(requests[i], out)
                    records[requests[i].prompt].append(pending[i])
                }
            }
        }
        for p in 0..<prompts.count { try trees[p].finalize(piBar: scoring.piBarForm) }
        return TreeBatch(trees: trees, generatedTokens: engine.generatedTokens, branches: records,
                         seconds: monotonicSeconds() - t0)
    }

    /// Up to K branch points of a finalized tree, by `tc.rule`. Reads the tree only: a
    /// token-level point (the entropy rule) is turned into a node by the caller, through
    /// `RolloutTree.branchNodes(for:)`. `fixed` prefers the least-branched nodes, then
    /// (depth, id), so successive rounds spread over the shallow steps.
    public static func selectPoints(_ tc: TreeConfig, _ tree: RolloutTree, lengthCap: Int, scoring: IBScoreConfig,
                                    rng: inout Rng) -> [BranchPoint] {
        switch tc.rule {
        case .fixed:
            let cands = BranchSelection.fixed(tree, maxDepth: tc.fixedMaxDepth, lengthCap: lengthCap, includeRoot: tc.expandRoot)
            let sorted = cands.sorted { (tree[$0].children.count, tree[$0].depth, $0) < (tree[$1].children.count, tree[$1].depth, $1) }
            return sorted.prefix(tc.topK).map { BranchPoint(node: $0, offset: tree[$0].tokens.count) }
        case .entropy, .ib, .random:
            return BranchSelection.select(tc.rule, tree: tree, k: tc.topK, lengthCap: lengthCap, config: scoring,
                                          fixedMaxDepth: tc.fixedMaxDepth, includeRoot: tc.expandRoot, rng: &rng)
        }
    }

    /// Splits a continuation into steps that end after each occurrence of `delimiter`; the
    /// remainder (ending at EOS or the cap) is the last step. Never returns an empty list
    /// for a non-empty input.
    public static func splitSteps(_ tokens: [Int32], _ logps: [Float], delimiter: [Int32]) -> [([Int32], [Float])] {
        var out: [([Int32], [Float])] = []
        var start = 0, i = 0
        let d = delimiter.count
        while i < tokens.count {
            if i + d <= tokens.count && Array(tokens[i..<(i + d)]) == delimiter {
                i += d
                out.append((Array(tokens[start..<i]), Array(logps[start..<i])))
                start = i
            } else {
                i += 1
            }
        }
        if start < tokens.count { out.append((Array(tokens[start...]), Array(logps[start...]))) }
        return out
    }
}
