/// How the summed per-token loss is normalised (docs/algorithm.md §6, "Normaliser N").
public enum LossAggregation: Equatable, Sendable {
    /// DAPO: Σ over all response tokens / total response tokens of the batch (default).
    case tokenMean
    /// Original GRPO: (1/G) Σ_i (1/|o_i|) Σ_t — mean over tokens, then over sequences.
    case sequenceMean
    /// Dr. GRPO: Σ over all tokens / a constant. nil = maxResponseLength × number of
    /// sequences (as TRL's `loss_type="dr_grpo"`: batch size × max_completion_length).
    case constant(Double?)
}

/// Options of the advantage computation and the policy update (docs/algorithm.md §3, §5, §6).
/// Every [choice] of the advantages and the update is a field here; docs/algorithm.md lists
/// them all, with their C, Python and CLI names.
public struct RLConfig: Equatable, Sendable {
    /// IB trade-off β (> 0). IB-Score and A_IB use the offset 1 + 1/β.
    public var beta: Double = 5
    /// Weight λ of the local advantage A_IB (0 turns IB-TPO's advantage into the tree GRPO one).
    public var lambda: Double = 0.1
    /// eps in (R − mean)/(std + eps), for GRPO and for A_GL. 1e-4 follows TRL's GRPOTrainer.
    public var advantageEps: Double = 1e-4
    /// Std used for GRPO and A_GL (the same one for both, so that they agree on chains).
    public var stdEstimator: StdEstimator = .population
    /// [choice] Advantage exactly 0 when every reward of a group / tree is the same (else
    /// the (≈0)/(0+eps) quotient is used as is).
    public var zeroAdvantageWhenConstant: Bool = true
    /// [choice] π̄ form.
    public var piBarForm: PiBarForm = .lengthNormalized
    /// [choice] r(c) = p̂(c)/p̂(s) is set to this value when p̂(s) = 0.
    public var ratioWhenParentZero: Double = 1
    /// [choice] Multiply A(s) by 1/√n(s) (TreeRL-style down-weighting of shared segments).
    public var sqrtNWeighting: Bool = false
    /// PPO clip range: ρ is clipped to [1 − clipLow, 1 + clipHigh].
    public var clipLow: Double = 0.2
    public var clipHigh: Double = 0.2
    /// β_KL: weight of the k3 KL to the reference policy (0 disables it).
    public var klCoef: Double = 0.001
    /// Entropy bonus coefficient: the loss gets − entropyCoef · Σ H_t / N.
    public var entropyCoef: Double = 0
    public var aggregation: LossAggregation = .tokenMean
    /// Optimisation epochs over each batch and minibatches per epoch (used by the trainer).
    public var epochs: Int = 1
    public var minibatches: Int = 1

    public init() {}

    /// β, the zero-parent ratio and the π̄ form, as the IB-Score and the IB branching rule read them.
    public var ibScore: IBScoreConfig { IBScoreConfig(beta: beta, ratioWhenParentZero: ratioWhenParentZero, piBarForm: piBarForm) }

    /// The fields the tree advantages read (GRPO's and IB-TPO's), see `Advantages`.
    public var advantage: AdvantageConfig {
        AdvantageConfig(beta: beta, lambda: lambda, advantageEps: advantageEps, stdEstimator: stdEstimator,
                        zeroAdvantageWhenConstant: zeroAdvantageWhenConstant, ratioWhenParentZero: ratioWhenParentZero,
                        sqrtNWeighting: sqrtNWeighting)
    }

    /// Throws `.invalidArgument` naming the first bad field.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw invalid("rl config: \(msg)") } }
        try need(beta.isFinite && beta > 0, "beta must be finite and > 0 (got \(beta))")
        try need(lambda.isFinite && lambda >= 0, "lambda must be finite and >= 0 (got \(lambda))")
        try need(advantageEps.isFinite && advantageEps >= 0, "advantage_eps must be finite and >= 0 (got \(advantageEps))")
        try need(ratioWhenParentZero.isFinite, "ratio_when_parent_zero must be finite (got \(ratioWhenParentZero))")
        try need(clipLow.isFinite && clipLow >= 0 && clipLow < 1, "clip_low must be in [0, 1) (got \(clipLow))")
        try need(clipHigh.isFinite && clipHigh >= 0, "clip_high must be finite and >= 0 (got \(clipHigh))")
        try need(klCoef.isFinite && klCoef >= 0, "kl_coef must be finite and >= 0 (got \(klCoef))")
        try need(entropyCoef.isFinite && entropyCoef >= 0, "entropy_coef must be finite and >= 0 (got \(entropyCoef))")
        if case .constant(let c?) = aggregation {
            try need(c.isFinite && c > 0, "the constant loss normaliser must be finite and > 0 (got \(c))")
        }
        try need(epochs >= 1 && epochs <= 1000, "epochs must be in 1...1000 (got \(epochs))")
        try need(minibatches >= 1 && minibatches <= 1 << 16, "minibatches must be in 1...65536 (got \(minibatches))")
    }
}
