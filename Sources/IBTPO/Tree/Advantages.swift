/// Which standard deviation normalises group / tree rewards.
public enum StdEstimator: Int32, Equatable, Sendable {
    /// √(Σ(x−μ)²/n) (default; numpy's np.std).
    case population = 0
    /// √(Σ(x−μ)²/(n−1)) (torch.std, which TRL and verl use); 0 for a single sample.
    case sample = 1
}

/// The options of the advantage computation (docs/algorithm.md §5); `RLConfig.advantage` fills it
/// from the RL options. Field meanings are those of `RLConfig`'s fields of the same names.
public struct AdvantageConfig: Equatable, Sendable {
    public var beta: Double = 5
    public var lambda: Double = 0.1
    public var advantageEps: Double = 1e-4
    public var stdEstimator: StdEstimator = .population
    public var zeroAdvantageWhenConstant: Bool = true
    public var ratioWhenParentZero: Double = 1
    public var sqrtNWeighting: Bool = false
    public init(beta: Double = 5, lambda: Double = 0.1, advantageEps: Double = 1e-4, stdEstimator: StdEstimator = .population,
                zeroAdvantageWhenConstant: Bool = true, ratioWhenParentZero: Double = 1, sqrtNWeighting: Bool = false) {
        self.beta = beta; self.lambda = lambda; self.advantageEps = advantageEps; self.stdEstimator = stdEstimator
        self.zeroAdvantageWhenConstant = zeroAdvantageWhenConstant; self.ratioWhenParentZero = ratioWhenParentZero
        self.sqrtNWeighting = sqrtNWeighting
    }
}

import Glibc

/// Advantage estimators (docs/algorithm.md §1 GRPO baseline, §5 IB-TPO).
public enum Advantages {
    /// Mean and std (per `estimator`) of `x`, summed in order in Double.
    public static func meanStd(_ x: [Double], _ estimator: StdEstimator) -> (mean: Double, std: Double) {
        guard !x.isEmpty else { return (0, 0) }
        var s = 0.0
        for v in x { s += v }
        let m = s / Double(x.count)
        var q = 0.0
        for v in x { q += (v - m) * (v - m) }
        let d = estimator == .population ? Double(x.count) : Double(x.count - 1)
        return (m, d > 0 ? (q / d).squareRoot() : 0)
    }

    /// GRPO group advantages A_i = (R_i − mean R)/(std R + eps) with `config.stdEstimator`
    /// and `config.advantageEps`. With `zeroAdvantageWhenConstant` (default) a group whose
    /// rewards are all equal gets exactly 0.
    public static func grpo(rewards: [Double], config: AdvantageConfig) -> [Double] {
        guard let first = rewards.first else { return [] }
        if config.zeroAdvantageWhenConstant && rewards.allSatisfy({ $0 == first }) {
            return [Double](repeating: 0, count: rewards.count)
        }
        let (m, sd) = meanStd(rewards, config.stdEstimator)
        return rewards.map { ($0 - m) / (sd + config.advantageEps) }
    }

    /// GRPO over consecutive groups of `groupSize` rewards.
    public static func grpo(rewards: [Double], groupSize: Int, config: AdvantageConfig) throws -> [Double] {
        guard groupSize >= 1 && rewards.count % groupSize == 0 else {
            throw invalid("grpo: \(rewards.count) rewards do not split into groups of \(groupSize)")
        }
        var out: [Double] = []
        out.reserveCapacity(rewards.count)
        var i = 0
        while i < rewards.count { out += grpo(rewards: Array(rewards[i..<i + groupSize]), config: config); i += groupSize }
        return out
    }

    /// Per-node IB-TPO advantages of a finalized tree (index = node id; the root's entries are 0).
    public struct NodeAdvantages: Equatable, Sendable {
        /// A_GL(s) = (p̂(s) − p̂(root))/(std of leaf rewards + eps).
        public var global: [Double]
        /// A_IB(s) = (r(s) − (1 + 1/β))·π̄_old(s), r(s) = p̂(s)/p̂(parent).
        public var local: [Double]
        /// A(s) = (A_GL + λ·A_IB) · (1/√n(s) if sqrtNWeighting).
        public var total: [Double]
    }

    /// IB-TPO node advantages (docs/algorithm.md §5). π̄_old is the π̄ the tree was finalized with.
    /// The leaf-reward std uses `config.stdEstimator`, the same as `grpo`, so that with
    /// λ = 0 the last segment of each leaf gets exactly the GRPO advantage over the leaves.
    public static func ibtpoNodes(_ tree: RolloutTree, config: AdvantageConfig) throws -> NodeAdvantages {
        guard tree.isFinalized else { throw invalid("ib-tpo advantages: the tree is not finalized") }
        let n = tree.count
        var out = NodeAdvantages(global: .init(repeating: 0, count: n), local: .init(repeating: 0, count: n),
                                 total: .init(repeating: 0, count: n))
        let leafRewards = tree.leaves.map { tree[$0].reward }
        guard !leafRewards.isEmpty else { return out }
        let constant = leafRewards.allSatisfy { $0 == leafRewards[0] }
        let (_, sd) = meanStd(leafRewards, config.stdEstimator)
        let rootP = tree[0].pHat
        let off = 1 + 1 / config.beta
        for id in 1..<n {
            let s = tree[id]
            let gl = (config.zeroAdvantageWhenConstant && constant) ? 0 : (s.pHat - rootP) / (sd + config.advantageEps)
            let r = IBScore.ratio(child: s.pHat, parent: tree[s.parent].pHat, whenZero: config.ratioWhenParentZero)
            let ib = (r - off) * s.piBar
            var a = gl + config.lambda * ib
            if config.sqrtNWeighting && s.n > 0 { a /= Double(s.n).squareRoot() }
            out.global[id] = gl; out.local[id] = ib; out.total[id] = a
        }
        return out
    }

    /// A training sequence with one advantage per token.
    public struct TokenAdvantages: Equatable, Sendable {
        public var trajectory: TreeTrajectory
        public var advantages: [Float]
    }

    /// Per-token advantages of every root-to-leaf trajectory (leaf id order): each token of
    /// node s's segment gets A(s); a shared segment appears once per leaf below it.
    public static func ibtpoTokens(_ tree: RolloutTree, config: AdvantageConfig) throws -> [TokenAdvantages] {
        let a = try ibtpoNodes(tree, config: config)
        return tree.trajectories().map { t in
            TokenAdvantages(trajectory: t, advantages: t.tokenNodes.map { Float(a.total[$0]) })
        }
    }
}
