/// Per-step rollout metrics (docs/algorithm.md §7).
public struct RolloutMetrics: Equatable, Sendable {
    /// Prompts (groups / trees) seen.
    public var prompts: Int = 0
    /// Trajectories (leaves) seen.
    public var trajectories: Int = 0
    /// Fraction of prompts whose trajectories do not all share one reward.
    public var effRate: Double = 0
    /// Mean reward over all trajectories.
    public var avgRate: Double = 0
    /// Mean IB-Score and mean Cov(η1, η2) over nodes with ≥ 2 children (0 if there are none).
    public var meanIBScore: Double = 0
    public var meanCov: Double = 0
    public var scoredNodes: Int = 0
    /// Generated tokens (every segment once; prompts never counted).
    public var generatedTokens: Int = 0
    /// trajectories / generatedTokens × 1000 (0 without tokens).
    public var trajectoriesPerKTokens: Double = 0
    /// Summed tree shape: nodes, branch points, leaves, tokens; meanBranchDepth is the mean
    /// over all branch points of all trees.
    public var shape = TreeShape()
}

public enum Metrics {
    /// Eff-Rate and Avg-Rate over reward groups (one group per prompt). Empty groups are skipped.
    public static func rates(groups: [[Double]]) -> (effRate: Double, avgRate: Double) {
        var eff = 0, prompts = 0, count = 0
        var sum = 0.0
        for g in groups where !g.isEmpty {
            prompts += 1
            if !g.allSatisfy({ $0 == g[0] }) { eff += 1 }
            for r in g { sum += r }
            count += g.count
        }
        return (prompts > 0 ? Double(eff) / Double(prompts) : 0, count > 0 ? sum / Double(count) : 0)
    }

    /// trajectories per 1,000 generated tokens.
    public static func trajectoriesPerKTokens(trajectories: Int, generatedTokens: Int) -> Double {
        generatedTokens > 0 ? Double(trajectories) * 1000 / Double(generatedTokens) : 0
    }

    /// Metrics of independent sampling (GRPO): `groups[p]` are the rewards of prompt p and
    /// `generatedTokens` the response tokens sampled for the whole batch.
    public static func groups(_ groups: [[Double]], generatedTokens: Int) -> RolloutMetrics {
        var m = RolloutMetrics()
        (m.effRate, m.avgRate) = rates(groups: groups)
        m.prompts = groups.filter { !$0.isEmpty }.count
        m.trajectories = groups.reduce(0) { $0 + $1.count }
        m.generatedTokens = generatedTokens
        m.trajectoriesPerKTokens = trajectoriesPerKTokens(trajectories: m.trajectories, generatedTokens: generatedTokens)
        return m
    }

    /// Metrics of a batch of finalized trees (one per prompt).
    public static func trees(_ trees: [RolloutTree], config: RLConfig) -> RolloutMetrics {
        var m = groups(trees.map { t in t.leaves.map { t[$0].reward } },
                       generatedTokens: trees.reduce(0) { $0 + $1.generatedTokens })
        var ibSum = 0.0, covSum = 0.0, depthSum = 0.0
        for t in trees {
            for s in IBScore.scores(t, config: config.ibScore, minChildren: 2) {
                ibSum += s.score; covSum += s.cov; m.scoredNodes += 1
            }
            let sh = t.shape
            m.shape.nodes += sh.nodes; m.shape.branchPoints += sh.branchPoints; m.shape.leaves += sh.leaves
            m.shape.generatedTokens += sh.generatedTokens
            depthSum += sh.meanBranchDepth * Double(sh.branchPoints)
        }
        if m.scoredNodes > 0 { m.meanIBScore = ibSum / Double(m.scoredNodes); m.meanCov = covSum / Double(m.scoredNodes) }
        m.shape.meanBranchDepth = m.shape.branchPoints > 0 ? depthSum / Double(m.shape.branchPoints) : 0
        return m
    }
}
