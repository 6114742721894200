/// Node selection of the branching rules. Every function takes a finalized tree and the
/// length cap (total tokens, prompt included) that bounds `RolloutTree.expandable`.
public enum BranchSelection {
    /// The K expandable nodes with the highest IB-Score; ties: lower depth, then lower id.
    /// A childless expandable node (only a root before round 1) scores 0.
    public static func ib(_ tree: RolloutTree, k: Int, lengthCap: Int, config: IBScoreConfig,
                          includeRoot: Bool = true) -> [Int] {
        let cand = tree.expandable(lengthCap: lengthCap, includeRoot: includeRoot).map { id -> (id: Int, depth: Int, s: Double) in
            (id, tree[id].depth, IBScore.score(tree, node: id, config: config)?.score ?? 0)
        }
        let sorted = cand.sorted { a, b in
            if a.s != b.s { return a.s > b.s }
            if a.depth != b.depth { return a.depth < b.depth }
            return a.id < b.id
        }
        return sorted.prefix(max(0, k)).map { $0.id }
    }

    /// K distinct expandable nodes, uniformly at random (partial Fisher–Yates over the
    /// id-ordered candidates, one `rng.nextInt` per pick). Fewer if fewer are expandable.
    public static func random(_ tree: RolloutTree, k: Int, lengthCap: Int, includeRoot: Bool = true,
                              rng: inout Rng) -> [Int] {
        var cand = tree.expandable(lengthCap: lengthCap, includeRoot: includeRoot)
        let m = min(max(0, k), cand.count)
        for i in 0..<m {
            let j = i + rng.nextInt(cand.count - i)
            cand.swapAt(i, j)
        }
        return Array(cand.prefix(m))
    }

    /// TreeRL-style: the K token positions whose sampled token had the lowest log-prob.
    /// A candidate is (node s ≠ root, offset o) for each token o of s's segment, allowed
    /// when the prefix before it (prompt + path to the parent + o tokens) is below the cap.
    /// Branching there re-samples that token: the new branch shares the first o tokens of
    /// s (see `RolloutTree.branchNodes`). Ties: lower depth, lower node id, lower offset.
    public static func entropy(_ tree: RolloutTree, k: Int, lengthCap: Int) -> [BranchPoint] {
        var cand: [(lp: Float, depth: Int, node: Int, off: Int)] = []
        for id in 1..<max(1, tree.count) {
            let s = tree[id]
            let before = tree.promptLength + s.pathTokens - s.tokens.count
            for o in 0..<s.logps.count where before + o < lengthCap {
                cand.append((s.logps[o], s.depth, id, o))
            }
        }
        cand.sort { a, b in
            if a.lp != b.lp { return a.lp < b.lp }
            if a.depth != b.depth { return a.depth < b.depth }
            if a.node != b.node { return a.node < b.node }
            return a.off < b.off
        }
        return cand.prefix(max(0, k)).map { BranchPoint(node: $0.node, offset: $0.off) }
    }

    /// TreePO-style: every expandable node of depth ≤ maxDepth, ordered by (depth, id).
    public static func fixed(_ tree: RolloutTree, maxDepth: Int, lengthCap: Int, includeRoot: Bool = true) -> [Int] {
        tree.expandable(lengthCap: lengthCap, includeRoot: includeRoot).filter { tree[$0].depth <= maxDepth }
            .sorted { (tree[$0].depth, $0) < (tree[$1].depth, $1) }
    }

    /// The selection of `tree.rule` as branch points (node-level rules branch at the node's
    /// end: offset = segment length). `entropy` returns token positions; pass the result to
    /// `RolloutTree.branchNodes(for:)` to get the nodes to continue from.
    /// The entropy rule ignores `includeRoot` (its candidates are tokens, not nodes).
    public static func select(_ rule: BranchRule, tree: RolloutTree, k: Int, lengthCap: Int, config: IBScoreConfig,
                              fixedMaxDepth: Int, includeRoot: Bool = true, rng: inout Rng) -> [BranchPoint] {
        let ids: [Int]
        switch rule {
        case .ib: ids = ib(tree, k: k, lengthCap: lengthCap, config: config, includeRoot: includeRoot)
        case .random: ids = random(tree, k: k, lengthCap: lengthCap, includeRoot: includeRoot, rng: &rng)
        case .fixed: ids = fixed(tree, maxDepth: fixedMaxDepth, lengthCap: lengthCap, includeRoot: includeRoot)
        case .entropy: return entropy(tree, k: k, lengthCap: lengthCap)
        }
        return ids.map { BranchPoint(node: $0, offset: tree[$0].tokens.count) }
    }
}
