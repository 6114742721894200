import Glibc

/// IB-Scores and IB-TPO node advantages of a tree given as flat arrays (the form of
/// `ibtpo_tree_advantages`), with bounded memory and no trap on any input.
///
/// The results are bit-identical to building a `RolloutTree` with one single-token segment
/// per node and calling `finalize`, `Advantages.ibtpoNodes` and `IBScore.score` (the
/// sums run in the same order), but the scratch is one malloc of `scratchBytesPerNode`
/// bytes per node, checked, instead of about 250 bytes per node in Swift arrays, whose
/// allocation failure aborts the process.
public enum FlatTreeAdvantages {
    /// Scratch bytes per node: leaf count and child count (Int32), reward sum and Σ η1·η2 (Double).
    public static let scratchBytesPerNode = 24
    /// The largest tree accepted (2^24 nodes: 384 MiB of scratch).
    public static let maxNodes = 1 << 24

    /// The inputs, all of `n` entries (n in 2...maxNodes): node 0 is the root (parent −1,
    /// tokenCount 0); for i ≥ 1, 0 ≤ parent[i] < i, tokenCount[i] ≥ 1, meanLogp[i] finite
    /// and ≤ 0; reward[i] finite in [0, 1] for leaves (read for leaves only).
    /// Writes outScore[i] (IB-Score, NaN for leaves) and outAdvantage[i] (0 for the root)
    /// when not nil, and only after every value was computed and found finite: on any error
    /// neither output is touched. Throws `.invalidArgument` naming the node or the setting
    /// (also for settings that make an output non-finite: a β with 1/β overflowing, a huge λ
    /// or ratio_when_parent_zero), `.outOfMemory` if the scratch cannot be allocated.
    public static func compute(config: RLConfig, n: Int, parent: UnsafePointer<Int32>, tokenCount: UnsafePointer<Int32>,
                               meanLogp: UnsafePointer<Float>, reward: UnsafePointer<Float>,
                               outScore: UnsafeMutablePointer<Double>?, outAdvantage: UnsafeMutablePointer<Double>?) throws {
        guard n >= 2 && n <= maxNodes else { throw invalid("n_nodes must be in 2...\(maxNodes) (got \(n))") }
        let beta = config.beta, lambda = config.lambda, rwpz = config.ratioWhenParentZero
        let off = 1 + 1 / beta
        guard off.isFinite else { throw invalid("beta = \(beta) is too small: 1 + 1/beta is not finite") }
        guard parent[0] == -1 && tokenCount[0] == 0 else {
            throw invalid("node 0 is the root: parent[0] must be -1 and token_count[0] 0 (got \(parent[0]), \(tokenCount[0]))")
        }
        for i in 1..<n {
            guard parent[i] >= 0 && Int(parent[i]) < i else { throw invalid("parent[\(i)] = \(parent[i]) must be in 0...\(i - 1)") }
            guard tokenCount[i] >= 1 else { throw invalid("token_count[\(i)] = \(tokenCount[i]) must be >= 1") }
            guard meanLogp[i].isFinite && meanLogp[i] <= 0 else { throw invalid("mean_logp[\(i)] = \(meanLogp[i]) must be finite and <= 0") }
        }
        guard let raw = malloc(n * scratchBytesPerNode) else {
            throw IBTPOError(.outOfMemory, "tree advantages: cannot allocate \(n * scratchBytesPerNode) bytes of scratch "
                + "(\(scratchBytesPerNode) per node) for \(n) nodes")
        }
        defer { free(raw) }
        let c = raw.bindMemory(to: Double.self, capacity: 2 * n)          // reward sum, then Σ η1·η2
        let sum12 = c + n
        let leaves = (raw + 16 * n).bindMemory(to: Int32.self, capacity: 2 * n)
        let children = leaves + n
        for i in 0..<n { children[i] = 0 }
        for i in 1..<n { children[Int(parent[i])] += 1 }
        // Leaves: n = 1, c = reward; the leaf-reward statistics in leaf id order (as `meanStd`).
        var leafCount = 0, leafSum = 0.0, first = 0.0, constant = true
        for i in 0..<n {
            sum12[i] = 0
            if i > 0 && children[i] == 0 {
                let r = reward[i]
                guard r.isFinite && r >= 0 && r <= 1 else { throw invalid("reward[\(i)] = \(r) of leaf \(i) must be in [0, 1]") }
                leaves[i] = 1; c[i] = Double(r)
                if leafCount == 0 { first = Double(r) } else if Double(r) != first { constant = false }
                leafCount += 1; leafSum += Double(r)
            } else {
                leaves[i] = 0; c[i] = 0
            }
        }
        let mean = leafSum / Double(leafCount)
        var q = 0.0
        for i in 1..<n where children[i] == 0 { q += (c[i] - mean) * (c[i] - mean) }
        let d = config.stdEstimator == .population ? Double(leafCount) : Double(leafCount - 1)
        let sd = d > 0 ? (q / d).squareRoot() : 0
        // Children have larger ids than their parents: a reverse sweep completes every subtree
        // before it is added to its parent, children in decreasing id order (as `finalize`).
        for i in stride(from: n - 1, to: 0, by: -1) {
            let p = Int(parent[i])
            leaves[p] += leaves[i]
            c[p] += c[i]
        }
        @inline(__always) func pHat(_ i: Int) -> Double { leaves[i] > 0 ? c[i] / Double(leaves[i]) : 0 }
        @inline(__always) func piBar(_ i: Int) -> Double {
            let lp = config.piBarForm == .lengthNormalized ? meanLogp[i] : meanLogp[i] * Float(tokenCount[i])
            return exp(Double(lp))
        }
        let adv = config.advantage
        let rootP = pHat(0)
        @inline(__always) func advantage(_ i: Int) -> (total: Double, eta1: Double, piBar: Double) {
            let ph = pHat(i), pb = piBar(i)
            let gl = (adv.zeroAdvantageWhenConstant && constant) ? 0 : (ph - rootP) / (sd + adv.advantageEps)
            let eta1 = IBScore.ratio(child: ph, parent: pHat(Int(parent[i])), whenZero: rwpz) - off
            var a = gl + lambda * (eta1 * pb)
            if adv.sqrtNWeighting && leaves[i] > 0 { a /= Double(leaves[i]).squareRoot() }
            return (a, eta1, pb)
        }
        // Pass 1: every output value, checked; Σ η1·η2 per parent in increasing child id order.
        for i in 1..<n {
            let a = advantage(i)
            guard a.total.isFinite else {
                throw invalid("advantage of node \(i) is not finite (\(a.total)) with beta \(beta), lambda \(lambda), "
                    + "ratio_when_parent_zero \(rwpz)")
            }
            sum12[Int(parent[i])] += a.eta1 * a.piBar
        }
        for i in 0..<n where children[i] > 0 {
            let s = (1 + beta) / Double(children[i]) * sum12[i]
            guard s.isFinite else {
                throw invalid("IB-Score of node \(i) is not finite (\(s)) with beta \(beta), ratio_when_parent_zero \(rwpz)")
            }
            sum12[i] = s
        }
        // Pass 2: write.
        if let outScore {
            for i in 0..<n { outScore[i] = children[i] > 0 ? sum12[i] : .nan }
        }
        if let outAdvantage {
            outAdvantage[0] = 0
            for i in 1..<n { outAdvantage[i] = advantage(i).total }
        }
    }
}
