/// The trees of one batch of prompts, with what it cost to grow them.
public struct TreeBatch: Sendable {
    /// One finalized tree per prompt.
    public var trees: [RolloutTree]
    /// Sampled tokens (prompts never counted; a shared prefix is generated once).
    public var generatedTokens: Int
    /// For each prompt, the trajectory (decoder slot) index of each leaf: leafTrajectory[p][leaf].
    public var leafTrajectory: [[Int: Int]]
    public var seconds: Double
}

/// IBTree and its comparison rules (ib-tpo.md §4): all prompts of a batch advance round by
/// round together, so one decode batch holds every active branch of every tree.
///
///     round 1:     B0 independent responses from the root, split into step nodes
///     rounds 2..L: pick K nodes by the rule; from each sample B continuations that share its
///                  prefix (copied from the cache of a trajectory through the node)
///
/// Independent sampling (GRPO) is the same engine with B0 = G and L = 1. Steps end *after*
/// the task's delimiter tokens; the final step ends at EOS (included) or the length cap.
public enum TreeSampler {
    /// Grows one tree per prompt. `prompts` are token sequences as fed to the model (start
    /// with BOS); `reward(p, completion)` scores prompt p's completion tokens (EOS excluded)
    /// and must return a finite value in [0, 1]. The decoder needs prompts × G slots.
    public static func sample(decoder: Decoder, prompts: [[Int32]], delimiter: [Int32], tree tc: TreeConfig,
                              rl: RLConfig, sampling: SamplingParams, seed: UInt64,
                              reward: (Int, [Int32]) throws -> Double) throws -> TreeBatch {
        try tc.validate()
        try rl.validate()
        guard !delimiter.isEmpty else { throw invalid("the step delimiter must not be empty") }
        let t0 = monotonicSeconds()
        let G = tc.trajectoriesPerPrompt
        let engine = try BranchDecoder(decoder: decoder, prompts: prompts, trajectoriesPerPrompt: G,
                                       params: sampling, seed: seed)
        let eos = sampling.eos
        var trees = prompts.map { RolloutTree(promptLength: $0.count, reserveNodes: 4 * G) }
        var leafTraj = [[Int: Int]](repeating: [:], count: prompts.count)
        var nextTraj = [Int](repeating: 0, count: prompts.count)
        // Per-prompt selection RNGs (the random rule), so a tree does not depend on its batch.
        var selectRngs = (0..<prompts.count).map { Rng(seed: RolloutSampler.sequenceSeed(seed ^ 0x7EE5_E1EC, prompt: $0, sample: -1)) }

        // Inserts a finished continuation of prompt p under `parent` (prefix = path tokens).
        func insert(_ p: Int, parent: Int, prefix: [Int32], trajectory j: Int, _ r: BranchResult) throws {
            let segments = splitSteps(r.tokens, r.logp, delimiter: delimiter)
            var completion = prefix + r.tokens
            if let eos, completion.last == eos { completion.removeLast() }
            let value = try reward(p, completion)
            guard value.isFinite && value >= 0 && value <= 1 else {
                throw IBTPOError(.callbackFailed, "reward for prompt \(p) is \(value); rewards must be in [0, 1]")
            }
            let ids = try trees[p].addPath(parent: parent, segments: segments, reward: value)
            if let leaf = ids.last { leafTraj[p][leaf] = j }
        }

        // Round 1: B0 independent responses per prompt.
        var requests: [BranchRequest] = []
        for p in 0..<prompts.count {
            for _ in 0..<tc.initialBranches {
                requests.append(BranchRequest(prompt: p, trajectory: nextTraj[p], source: -1, prefix: []))
                nextTraj[p] += 1
            }
        }
        for (r, out) in zip(requests, try engine.run(requests)) {
            try insert(r.prompt, parent: RolloutTree.root, prefix: [], trajectory: r.trajectory, out)
        }
        // Rounds 2..L.
        if tc.rounds > 1 {
            for _ in 2...tc.rounds {
                requests = []
                var parents: [Int] = []
                for p in 0..<prompts.count {
                    try trees[p].finalize(piBar: rl.piBarForm)
                    let cap = min(decoder.config.maxSeq - 1, prompts[p].count + sampling.maxNewTokens)
                    let points = try selectPoints(tc, &trees[p], lengthCap: cap, rl: rl, rng: &selectRngs[p])
                    for s in points {
                        let prefix = pathTokens(trees[p], s)
                        let source = s == RolloutTree.root ? -1 : (leafTraj[p][anyLeaf(trees[p], under: s)] ?? -1)
                        for _ in 0..<tc.branchWidth where nextTraj[p] < G {
                            requests.append(BranchRequest(prompt: p, trajectory: nextTraj[p], source: source,
                                                          prefix: source >= 0 ? prefix : []))
                            parents.append(source >= 0 ? s : RolloutTree.root)
                            nextTraj[p] += 1
                        }
                    }
                }
                if requests.isEmpty { break }
                for (i, out) in try engine.run(requests).enumerated() {
                    let r = requests[i]
                    try insert(r.prompt, parent: parents[i], prefix: r.prefix, trajectory: r.trajectory, out)
                }
            }
        }
        for p in 0..<prompts.count { try trees[p].finalize(piBar: rl.piBarForm) }
        return TreeBatch(trees: trees, generatedTokens: engine.generatedTokens, leafTrajectory: leafTraj,
                         seconds: monotonicSeconds() - t0)
    }

    /// Up to K nodes to branch from. `entropy` may split a node and returns the node that
    /// ends at the chosen token position. `fixed` prefers the least-branched nodes, then
    /// (depth, id), so successive rounds spread over the shallow steps.
    static func selectPoints(_ tc: TreeConfig, _ tree: inout RolloutTree, lengthCap: Int, rl: RLConfig,
                             rng: inout Rng) throws -> [Int] {
        switch tc.rule {
        case .fixed:
            let cands = BranchSelection.fixed(tree, maxDepth: tc.fixedMaxDepth, lengthCap: lengthCap, includeRoot: tc.expandRoot)
            let sorted = cands.sorted { (tree[$0].children.count, tree[$0].depth, $0) < (tree[$1].children.count, tree[$1].depth, $1) }
            return Array(sorted.prefix(tc.topK))
        case .entropy:
            let points = BranchSelection.entropy(tree, k: tc.topK, lengthCap: lengthCap)
            let nodes = try tree.branchNodes(for: points)
            try tree.finalize(piBar: rl.piBarForm)
            return nodes
        case .ib, .random:
            let pts = BranchSelection.select(tc.rule, tree: tree, k: tc.topK, lengthCap: lengthCap, config: rl,
                                             fixedMaxDepth: tc.fixedMaxDepth, includeRoot: tc.expandRoot, rng: &rng)
            return pts.map { $0.node }
        }
    }

    /// Response tokens on the path from the root to `id`.
    static func pathTokens(_ tree: RolloutTree, _ id: Int) -> [Int32] {
        var out: [Int32] = []
        for n in tree.path(to: id) { out += tree[n].tokens }
        return out
    }

    /// A leaf in the subtree of `id` (following first children).
    static func anyLeaf(_ tree: RolloutTree, under id: Int) -> Int {
        var at = id
        while !tree[at].isLeaf, let c = tree[at].children.first { at = c }
        return at
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
