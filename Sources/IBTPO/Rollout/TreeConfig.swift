/// Branching rules of the tree sampler (docs/algorithm.md §4). Raw values are stable.
public enum BranchRule: Int32, Equatable, Sendable {
    /// Top-K expandable nodes by IB-Score.
    case ib = 0
    /// K expandable nodes drawn uniformly without replacement.
    case random = 1
    /// TreeRL-style: the K token positions whose sampled token had the lowest log-prob.
    case entropy = 2
    /// TreePO-style: every expandable node up to `TreeConfig.fixedMaxDepth`.
    case fixed = 3
}

/// Tree sampling parameters (docs/algorithm.md §4): (B0, L, K, B) and the branching rule.
public struct TreeConfig: Equatable, Sendable {
    /// B0: independent responses sampled from the root in round 1.
    public var initialBranches: Int = 4
    /// L: rounds, the first included.
    public var rounds: Int = 9
    /// K: nodes expanded per round (rounds 2...L).
    public var topK: Int = 1
    /// B: continuations sampled from each chosen node.
    public var branchWidth: Int = 1
    public var rule: BranchRule = .ib
    /// `fixed` rule [choice]: expandable nodes of depth ≤ this are all expanded every round.
    public var fixedMaxDepth: Int = 1
    /// [choice] The root counts as expandable in rounds 2...L (a fresh independent sample).
    public var expandRoot: Bool = true

    public init() {}

    /// G = B0 + (L − 1)·K·B, the trajectories per prompt (for rules that pick K nodes).
    public var trajectoriesPerPrompt: Int { initialBranches + (rounds - 1) * topK * branchWidth }

    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw invalid("tree config: \(msg)") } }
        try need(initialBranches >= 1 && initialBranches <= 4096, "B0 must be in 1...4096 (got \(initialBranches))")
        try need(rounds >= 1 && rounds <= 4096, "L must be in 1...4096 (got \(rounds))")
        try need(topK >= 1 && topK <= 4096, "K must be in 1...4096 (got \(topK))")
        try need(branchWidth >= 1 && branchWidth <= 4096, "B must be in 1...4096 (got \(branchWidth))")
        try need(fixedMaxDepth >= 0 && fixedMaxDepth <= 1 << 16, "fixed_max_depth must be >= 0 (got \(fixedMaxDepth))")
    }
}
