/// IB-Score of one node (ib-tpo.md §3), over its children C(s):
///
///     r(c)  = p̂(c) / p̂(s)         (config.ratioWhenParentZero when p̂(s) = 0)
///     η1(c) = r(c) − (1 + 1/β)
///     η2(c) = π̄(c)
///     IB(s) = (1+β)/|C(s)| · Σ_c η1(c)·η2(c)
///
/// `cov` is the population covariance (1/|C|)·Σ (η1 − mean η1)(η2 − mean η2) (0 for a
/// single child), so that IB(s) = (1+β)·(mean η1 · mean η2 + cov) exactly.
public struct IBNodeScore: Equatable, Sendable {
    public var node: Int
    public var depth: Int
    public var children: Int
    public var score: Double
    public var cov: Double
    public var meanEta1: Double
    public var meanEta2: Double
}

/// Branching rules of the tree sampler (ib-tpo.md §4). Raw values are stable.
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

public enum IBScore {
    /// r = p̂(child)/p̂(parent), or `whenZero` if p̂(parent) = 0.
    @inline(__always)
    public static func ratio(child: Double, parent: Double, whenZero: Double) -> Double {
        parent == 0 ? whenZero : child / parent
    }

    /// IB-Score of `node` (tree must be finalized); nil when the node has no children.
    public static func score(_ tree: RolloutTree, node: Int, config: RLConfig) -> IBNodeScore? {
        let s = tree[node]
        let C = s.children
        guard !C.isEmpty else { return nil }
        let beta = config.beta, off = 1 + 1 / beta
        var e1 = [Double](), e2 = [Double]()
        e1.reserveCapacity(C.count); e2.reserveCapacity(C.count)
        for c in C {
            let r = ratio(child: tree[c].pHat, parent: s.pHat, whenZero: config.ratioWhenParentZero)
            e1.append(r - off)
            e2.append(tree[c].piBar)
        }
        let k = Double(C.count)
        var sum12 = 0.0, m1 = 0.0, m2 = 0.0
        for i in 0..<C.count { sum12 += e1[i] * e2[i]; m1 += e1[i]; m2 += e2[i] }
        m1 /= k; m2 /= k
        var cov = 0.0
        for i in 0..<C.count { cov += (e1[i] - m1) * (e2[i] - m2) }
        cov /= k
        return IBNodeScore(node: node, depth: s.depth, children: C.count, score: (1 + beta) / k * sum12, cov: cov,
                           meanEta1: m1, meanEta2: m2)
    }

    /// Scores of every node with at least `minChildren` children, increasing id order.
    public static func scores(_ tree: RolloutTree, config: RLConfig, minChildren: Int = 1) -> [IBNodeScore] {
        (0..<tree.count).compactMap { id in
            tree[id].children.count >= max(1, minChildren) ? score(tree, node: id, config: config) : nil
        }
    }
}

/// Node selection of the branching rules. Every function takes a finalized tree and the
/// length cap (total tokens, prompt included) that bounds `RolloutTree.expandable`.
public enum BranchSelection {
    /// The K expandable nodes with the highest IB-Score; ties: lower depth, then lower id.
    /// A childless expandable node (only a root before round 1) scores 0.
    public static func ib(_ tree: RolloutTree, k: Int, lengthCap: Int, config: RLConfig,
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
    public static func select(_ rule: BranchRule, tree: RolloutTree, k: Int, lengthCap: Int, config: RLConfig,
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
