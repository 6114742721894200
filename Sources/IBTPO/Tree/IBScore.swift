/// What the IB-Score needs besides the tree (docs/algorithm.md §3): β, the [choice] r(c) when
/// p̂(s) = 0, and the [choice] π̄ form the tree's statistics are finalized with.
/// `RLConfig.ibScore` derives it from the RL options, so the branching rule and the
/// advantages always score with the same settings.
public struct IBScoreConfig: Equatable, Sendable {
    /// IB trade-off β (> 0).
    public var beta: Double = 5
    /// [choice] r(c) = p̂(c)/p̂(s) is set to this value when p̂(s) = 0.
    public var ratioWhenParentZero: Double = 1
    /// [choice] How π̄ is formed from a segment's log-probs.
    public var piBarForm: PiBarForm = .lengthNormalized
    public init(beta: Double = 5, ratioWhenParentZero: Double = 1, piBarForm: PiBarForm = .lengthNormalized) {
        self.beta = beta; self.ratioWhenParentZero = ratioWhenParentZero; self.piBarForm = piBarForm
    }

    /// Throws `.invalidArgument` for a β that is not finite and > 0 or a non-finite ratio.
    public func validate() throws {
        guard beta.isFinite && beta > 0 else { throw invalid("ib score: beta must be finite and > 0 (got \(beta))") }
        guard ratioWhenParentZero.isFinite else {
            throw invalid("ib score: ratio_when_parent_zero must be finite (got \(ratioWhenParentZero))")
        }
    }
}

/// IB-Score of one node (docs/algorithm.md §3), over its children C(s):
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

public enum IBScore {
    /// r = p̂(child)/p̂(parent), or `whenZero` if p̂(parent) = 0.
    @inline(__always)
    public static func ratio(child: Double, parent: Double, whenZero: Double) -> Double {
        parent == 0 ? whenZero : child / parent
    }

    /// IB-Score of `node` (tree must be finalized); nil when the node has no children.
    public static func score(_ tree: RolloutTree, node: Int, config: IBScoreConfig) -> IBNodeScore? {
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
    public static func scores(_ tree: RolloutTree, config: IBScoreConfig, minChildren: Int = 1) -> [IBNodeScore] {
        (0..<tree.count).compactMap { id in
            tree[id].children.count >= max(1, minChildren) ? score(tree, node: id, config: config) : nil
        }
    }
}
