import Glibc

/// Which RL algorithm an `RLTrainer` runs (docs/algorithm.md §1, §4–§6).
public enum RLAlgorithm: String, Equatable, Sendable, CaseIterable {
    /// G independent samples per prompt, GRPO group advantages.
    case grpo
    /// An IBTree per prompt (`RLTrainerConfig.tree`), IB-TPO advantages A_GL + λ·A_IB.
    case ibtpo
}

/// Everything an RL run adds on top of the `Trainer`'s config (model, batch shape, lr schedule,
/// AdamW, grad clip). The paper's baselines are configurations: clip-higher = `rl.clipHigh = 0.28`,
/// entropy bonus = `rl.entropyCoef > 0`.
public struct RLTrainerConfig: Equatable, Sendable {
    public var algo: RLAlgorithm = .ibtpo
    public var rl = RLConfig()
    /// The IBTree shape and rule (ibtpo only).
    public var tree = TreeConfig()
    /// G for grpo (independent samples per prompt).
    public var groupSize: Int = 8
    /// P: problems of the train split per step.
    public var promptsPerStep: Int = 8
    public var sampling = SamplingParams(temperature: 0.7, topK: 20, topP: 0.95, maxNewTokens: 64)
    /// GRPO runs: grow a probe tree (`probeTree`) on the first `probePrompts` prompts of every
    /// `probeEvery`-th step to measure IB-Score and Cov(η1, η2) (0 = never). Not trained on.
    public var probeEvery: Int = 1
    public var probePrompts: Int = 2
    public var probeTree = TreeConfig()
    /// Rollout seeds are derived from (seed, RL step), so a failed step retried gives the same rollouts.
    public var seed: UInt64 = 1
    /// Clear the AdamW moments and the trainer's step counter at the start of RL (the SFT
    /// checkpoint's moments belong to another objective and learning rate).
    public var resetOptimizer: Bool = true
    /// Learning-rate schedule of the RL optimiser steps (indexed by the trainer's step); nil =
    /// the trainer's own `config.schedule`.
    public var schedule: LRSchedule? = nil
    /// Measure the KL to the reference even when `rl.klCoef` = 0 (costs one extra forward per minibatch).
    public var alwaysMeasureKL: Bool = true

    public init() {}

    /// Trajectories per prompt of a training step.
    public var trajectoriesPerPrompt: Int { algo == .grpo ? groupSize : tree.trajectoriesPerPrompt }
    /// A one-line warning when step metrics `m` counted fewer trajectories than the config
    /// plans (prompts × G): rounds 2...L found no node to expand, as happens when completions
    /// have a single step and the root is not expandable (`tree.expandRoot` false). nil when
    /// the plan was met, for grpo, and for the `fixed` rule (whose count depends on the tree).
    /// The metrics always count the trajectories actually sampled.
    public func shortfallWarning(_ m: RLStepMetrics) -> String? {
        guard algo != .grpo, tree.rule != .fixed else { return nil }
        let planned = m.prompts * trajectoriesPerPrompt
        guard m.trajectories < planned else { return nil }
        return "rl step \(m.step): sampled \(m.trajectories) trajectories, fewer than the \(planned) planned "
            + "(\(m.prompts) prompts × (B0 + (L−1)·K·B) = \(trajectoriesPerPrompt)): later rounds found no node to expand; "
            + (tree.expandRoot ? "completions with a single step have no branch point"
                               : "with expand_root = 0 a completion with a single step has no branch point")
            + " (the metrics count the trajectories sampled)"
    }

    /// The tree the sampler grows for training: G single-step chains for grpo.
    public var trainingTree: TreeConfig {
        guard algo == .grpo else { return tree }
        var t = TreeConfig()
        t.initialBranches = groupSize; t.rounds = 1
        return t
    }

    public func validate() throws {
        try rl.validate(); try tree.validate(); try probeTree.validate(); try sampling.validate()
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw invalid("rl trainer: \(msg)") } }
        try need(groupSize >= 1 && groupSize <= 4096, "group size must be in 1...4096 (got \(groupSize))")
        try need(promptsPerStep >= 1 && promptsPerStep <= 65536, "prompts per step must be in 1...65536 (got \(promptsPerStep))")
        try need(probeEvery >= 0 && probePrompts >= 1, "probe_every must be ≥ 0 and probe_prompts ≥ 1")
    }
}

/// Every docs/algorithm.md §7 metric of one RL step.
public struct RLStepMetrics: Equatable, Sendable {
    /// RL steps completed (1-based after the step).
    public var step = 0
    /// Optimiser updates applied in this step (skipped ones not included).
    public var optimizerSteps = 0
    /// Optimiser updates of this step skipped because their loss or gradient norm was not
    /// finite (parameters, moments and the trainer's step unchanged by each of them).
    public var skippedSteps = 0
    public var lr: Float = 0
    /// Mean reward over trajectories (Avg-Rate) and Eff-Rate.
    public var avgRate = 0.0
    public var effRate = 0.0
    /// Mean token entropy of the current policy over trained tokens (first epoch).
    public var entropy = 0.0
    /// Mean IB-Score and Cov(η1, η2) over nodes with ≥ 2 children: of the training trees
    /// (ibtpo) or of the probe tree (grpo; `ibMeasured` false on steps without a probe).
    public var meanIBScore = 0.0
    public var meanCov = 0.0
    public var ibMeasured = false
    public var ibNodes = 0
    /// Token-mean k3 KL to the frozen reference (first epoch; 0 when not measured).
    public var kl = 0.0
    public var clipFracLow = 0.0
    public var clipFracHigh = 0.0
    /// Pre-clip gradient norm of the (last) optimiser step.
    public var gradNorm: Float = 0
    /// Loss of the first epoch (sum over its minibatches) and its policy-gradient part.
    public var loss = 0.0
    public var pgLoss = 0.0
    /// Max |ρ − 1| over trained tokens of the first epoch's first minibatch (π_old = sampler's log-probs).
    public var maxRatioDeviation = 0.0
    public var prompts = 0
    public var trajectories = 0
    public var trainedTokens = 0
    public var generatedTokens = 0
    public var trajectoriesPerKTokens = 0.0
    public var shape = TreeShape()
    public var samplingSeconds = 0.0
    public var probeSeconds = 0.0
    public var updateSeconds = 0.0
}

/// One training row: a root-to-leaf trajectory of prompt `prompt`, with per-token advantages.
struct RLRow {
    var prompt: Int
    var tokens: [Int32]
    var logps: [Float]
    var advantages: [Float]
}

/// Online RL on top of a `Trainer`: rollout → rewards → advantages → update.
///
/// **Reference policy.** The parameters at construction are copied into a "ref_params"
/// section of the RL trainer's own arena (one flat vector, the size of the parameters).
/// Reference log-probs come from `model.forward(weights: refParams)`, before the policy's
/// own forward, whose activations the backward needs.
///
/// **Memory.** The per-token buffers of the update (π_old, π_ref, advantages, sequence
/// index, mask: one entry per position of the model's B·T) and the loss's per-sequence
/// scratch are sections of the same arena, planned by `RLTrainer.plan`.
///
/// **Atomicity.** Rollouts, rewards and advantages happen before the first AdamW step; if
/// any of them throws (a reward callback error, a row that does not fit `seq`) parameters,
/// AdamW moments, the trainer's step, the RL step and the prompt cursor are unchanged
/// (gradients are scratch).
///
/// **Divergence.** An optimiser update whose loss or gradient norm is not finite is skipped:
/// no parameter, moment or trainer-step change; it is counted in `RLStepMetrics.skippedSteps`
/// and `Trainer.skippedSteps`, and the step goes on with its next update and completes
/// normally (RL step and cursor advance, since the rollout was consumed).
public final class RLTrainer {
    public let trainer: Trainer
    public let task: any TrainingTask
    public let config: RLTrainerConfig
    public var model: Model { trainer.model }
    /// RL steps completed.
    public private(set) var completedSteps = 0
    /// Next train-split problem index.
    public private(set) var cursor = 0
    /// Replaces the task's reward when set (tests, custom verifiers, the C API's callback):
    /// (problem, the completion's raw bytes with special tokens removed) → [0, 1].
    public var rewardFunction: ((Problem, [UInt8]) throws -> Double)?
    /// Called with ("rollout", 0, 1) before sampling, ("rollout", 1, 1) after the rewards,
    /// and ("update", i, n) after each of the n optimiser updates. Returning false during the
    /// rollout phase stops the step with `.aborted` and no state change; during updates the
    /// return value is ignored (a half-applied step would not be atomic).
    public var progress: ((String, Int, Int) -> Bool)?
    let arena: Arena
    public let refParams: UnsafeMutablePointer<Float>
    // Per-position inputs of the policy loss, N = B·T each, and per-sequence scratch.
    let lpOld: UnsafeMutablePointer<Float>, lpRef: UnsafeMutablePointer<Float>, adv: UnsafeMutablePointer<Float>
    let seqIdx: UnsafeMutablePointer<Int32>, mask: UnsafeMutablePointer<Bool>
    let perSequence: UnsafeMutableBufferPointer<Int32>

    /// The RL trainer's own arena (reference parameters and update buffers) for a model of
    /// `parameters` floats, `tokens` = B·T positions and up to `rows` trajectories per step.
    public static func plan(parameters: Int, tokens: Int, rows: Int) throws -> MemoryPlan {
        var plan = MemoryPlan()
        try plan.reserve("ref_params", group: "reference", count: parameters)
        try plan.reserve("rl.logp_old", group: "rl_update", count: tokens)
        try plan.reserve("rl.logp_ref", group: "rl_update", count: tokens)
        try plan.reserve("rl.advantage", group: "rl_update", count: tokens)
        try plan.reserve("rl.sequence", group: "rl_update", count: tokens, of: Int32.self)
        try plan.reserve("rl.mask", group: "rl_update", count: tokens, of: Bool.self)
        try plan.reserve("rl.per_sequence", group: "rl_update", count: max(1, rows), of: Int32.self)
        return plan
    }

    public init(trainer: Trainer, task: any TrainingTask, config: RLTrainerConfig) throws {
        try config.validate()
        guard let d = trainer.model.decoder else { throw invalid("rl trainer: the model has no decoder (rollout_slots = 0)") }
        let need = config.promptsPerStep * config.trajectoriesPerPrompt
        guard need <= d.slots else {
            throw invalid("rl trainer: \(config.promptsPerStep) prompts × \(config.trajectoriesPerPrompt) trajectories "
                + "need \(need) decode slots; the trainer has \(d.slots)")
        }
        if config.algo == .grpo && config.probeEvery > 0 {
            let p = min(config.probePrompts, config.promptsPerStep) * config.probeTree.trajectoriesPerPrompt
            guard p <= d.slots else { throw invalid("rl trainer: the probe tree needs \(p) decode slots; the trainer has \(d.slots)") }
        }
        self.trainer = trainer; self.task = task; self.config = config
        let P = trainer.model.layout.count
        let a = try Arena(plan: RLTrainer.plan(parameters: P, tokens: trainer.model.shape.tokens, rows: d.slots))
        arena = a
        refParams = try a.pointer(named: "ref_params")
        lpOld = try a.pointer(named: "rl.logp_old"); lpRef = try a.pointer(named: "rl.logp_ref")
        adv = try a.pointer(named: "rl.advantage")
        seqIdx = try a.pointer(named: "rl.sequence", as: Int32.self); mask = try a.pointer(named: "rl.mask", as: Bool.self)
        perSequence = UnsafeMutableBufferPointer(start: try a.pointer(named: "rl.per_sequence", as: Int32.self),
                                                 count: a.count(named: "rl.per_sequence", of: Int32.self))
        memcpy(refParams, trainer.model.params, P * 4)
        if config.resetOptimizer {
            memset(trainer.model.adamM, 0, P * 4); memset(trainer.model.adamV, 0, P * 4)
            trainer.step = 0
        }
    }

    /// Continues a run after its checkpoint was loaded into `trainer` (parameters, AdamW
    /// moments, step, RNG): construct the `RLTrainer` from the run's *start* policy (so the
    /// reference copy is the same), load the checkpoint, then call this with the RL steps the
    /// checkpoint had completed. The following steps are bit-identical to an uninterrupted
    /// run, because rollout seeds and problems depend only on (seed, RL step).
    public func resume(completedSteps k: Int) throws {
        guard k >= 0 && k <= Int(Int32.max) else { throw invalid("rl resume: completed steps must be ≥ 0 (got \(k))") }
        completedSteps = k
        cursor = k * config.promptsPerStep
    }

    /// The rollout seed of RL step `s`.
    func rolloutSeed(_ s: Int) -> UInt64 { RolloutSampler.sequenceSeed(config.seed ^ 0x0B7_4A11, prompt: s, sample: -3) }

    /// One RL step. Throws without changing any state (see the type's documentation); a
    /// non-finite update is skipped and counted, not thrown.
    public func step() throws -> RLStepMetrics {
        let tok = trainer.tokenizer
        var m = RLStepMetrics()
        let problems = (0..<config.promptsPerStep).map { task.problem(split: .train, index: cursor + $0) }
        let prompts = problems.map { trainer.promptTokens($0.prompt) }
        let delimiter = tok.encode(task.stepDelimiter)
        // Every row must fit `seq` whatever the sampler produces: check before sampling.
        let T = model.shape.seq, maxNew = config.sampling.maxNewTokens
        for (i, p) in prompts.enumerated() where p.count + maxNew - 1 > T {
            throw IBTPOError(.badData, "rl: train problem \(cursor + i) has a \(p.count)-token prompt; with max_new_tokens "
                + "\(maxNew) its rows need up to \(p.count + maxNew - 1) positions, more than seq = \(T); "
                + "raise seq or lower max_new_tokens")
        }
        let rewardFn: (Int, [Int32]) throws -> Double = { [task, rewardFunction] p, c in
            if let f = rewardFunction { return try f(problems[p], tok.bytes(c)) }
            let text = tok.decode(c)
            return Double(task.reward(for: problems[p], completion: text))
        }
        guard let decoder = model.decoder else { throw invalid("rl trainer: no decoder") }
        let seed = rolloutSeed(completedSteps)
        func rolloutPhase(_ done: Int) throws {
            if let progress, !progress("rollout", done, 1) {
                throw IBTPOError(.aborted, "rl step stopped by the progress callback before the update")
            }
        }
        try rolloutPhase(0)

        // 1. Rollout (rewards included).
        let batch = try TreeSampler.sample(decoder: decoder, prompts: prompts, delimiter: delimiter,
                                           tree: config.trainingTree, scoring: config.rl.ibScore, sampling: config.sampling,
                                           seed: seed, reward: rewardFn)
        m.samplingSeconds = batch.seconds
        let rm = Metrics.trees(batch.trees, config: config.rl)
        m.avgRate = rm.avgRate; m.effRate = rm.effRate; m.prompts = rm.prompts; m.trajectories = rm.trajectories
        m.generatedTokens = batch.generatedTokens
        m.trajectoriesPerKTokens = Metrics.trajectoriesPerKTokens(trajectories: rm.trajectories,
                                                                  generatedTokens: batch.generatedTokens)
        m.shape = rm.shape
        if config.algo == .ibtpo {
            m.meanIBScore = rm.meanIBScore; m.meanCov = rm.meanCov; m.ibNodes = rm.scoredNodes; m.ibMeasured = true
        } else if config.probeEvery > 0 && completedSteps % config.probeEvery == 0 {
            let n = min(config.probePrompts, prompts.count)
            let probe = try TreeSampler.sample(decoder: decoder, prompts: Array(prompts[0..<n]), delimiter: delimiter,
                                               tree: config.probeTree, scoring: config.rl.ibScore, sampling: config.sampling,
                                               seed: seed ^ 0x960B_E000, reward: rewardFn)
            let pm = Metrics.trees(probe.trees, config: config.rl)
            m.meanIBScore = pm.meanIBScore; m.meanCov = pm.meanCov; m.ibNodes = pm.scoredNodes; m.ibMeasured = true
            m.probeSeconds = probe.seconds
        }

        try rolloutPhase(1)
        // 2. Advantages → rows.
        let t0 = monotonicSeconds()
        let rows = try makeRows(batch.trees)
        m.trainedTokens = rows.reduce(0) { $0 + $1.tokens.count }

        // 3. Update.
        try update(rows, prompts: prompts, metrics: &m)
        m.updateSeconds = monotonicSeconds() - t0
        cursor += config.promptsPerStep
        completedSteps += 1
        m.step = completedSteps
        return m
    }

    /// Training rows of a batch of trees, trajectories in leaf-id order per prompt.
    func makeRows(_ trees: [RolloutTree]) throws -> [RLRow] {
        var rows: [RLRow] = []
        for (p, t) in trees.enumerated() {
            switch config.algo {
            case .grpo:
                let trajs = t.trajectories()
                let a = Advantages.grpo(rewards: trajs.map(\.reward), config: config.rl.advantage)
                for (i, tr) in trajs.enumerated() {
                    rows.append(RLRow(prompt: p, tokens: tr.tokens, logps: tr.logps,
                                      advantages: [Float](repeating: Float(a[i]), count: tr.tokens.count)))
                }
            case .ibtpo:
                for ta in try Advantages.ibtpoTokens(t, config: config.rl.advantage) {
                    rows.append(RLRow(prompt: p, tokens: ta.trajectory.tokens, logps: ta.trajectory.logps,
                                      advantages: ta.advantages))
                }
            }
        }
        return rows
    }

    /// Epochs × minibatches optimiser steps over `rows`; each optimiser minibatch is processed in
    /// chunks of the model's batch B with gradient accumulation and the minibatch's own
    /// token/sequence counts as the loss normaliser.
    func update(_ rows: [RLRow], prompts: [[Int32]], metrics m: inout RLStepMetrics) throws {
        let B = model.shape.batch, T = model.shape.seq
        // Positions a row occupies: its prompt and all but the last trajectory token.
        let need = rows.map { prompts[$0.prompt].count + $0.tokens.count - 1 }
        for (i, n) in need.enumerated() where n > T {
            throw IBTPOError(.badData, "rl: row \(i) needs \(n) positions, more than seq = \(T); "
                + "raise seq or lower max_new_tokens")
        }
        defer { model.resetPass() }
        let wantRef = config.rl.klCoef > 0 || config.alwaysMeasureKL
        let withEnt = config.rl.entropyCoef > 0
        let mbCount = min(config.rl.minibatches, max(1, rows.count))
        let maxResp = config.sampling.maxNewTokens
        for epoch in 0..<config.rl.epochs {
            for mb in 0..<mbCount {
                let lo = rows.count * mb / mbCount, hi = rows.count * (mb + 1) / mbCount
                let tokenCount = rows[lo..<hi].reduce(0) { $0 + $1.tokens.count }
                model.zeroGrads()
                var loss = 0.0, pg = 0.0, klSum = 0.0, entSum = 0.0, nLow = 0.0, nHigh = 0.0
                var maxDev = 0.0
                // Rows sorted by length, so that each chunk of B runs at its own longest row.
                let order = (lo..<hi).sorted { (need[$0], $0) < (need[$1], $1) }
                var start = 0
                while start < order.count {
                    let end = min(order.count, start + B)
                    let chunk = order[start..<end]
                    let seq = chunk.reduce(1) { max($0, need[$1]) }
                    try model.setPass(batch: chunk.count, seq: seq)
                    fillChunk(rows, chunk, base: lo, prompts: prompts)
                    let N = chunk.count * seq
                    if wantRef {
                        model.forward(weights: refParams)
                        memcpy(lpRef, model.logp, N * 4)
                    }
                    model.forward(withEntropy: true)
                    let input = PolicyLossInput(count: N, logpNew: UnsafePointer(model.logp), logpOld: lpOld,
                                                logpRef: wantRef ? UnsafePointer(lpRef) : nil, advantages: adv,
                                                sequence: seqIdx, mask: mask, entropy: UnsafePointer(model.entropy))
                    let res = try PolicyLoss.compute(
                        input, config: config.rl,
                        counts: PolicyLossCounts(maxResponseLength: maxResp, tokenCount: tokenCount, sequenceCount: hi - lo),
                        perSequence: perSequence, coef: model.coef, entCoef: model.entCoef)
                    if epoch == 0 && mb == 0 {
                        for r in 0..<N where mask[r] { maxDev = max(maxDev, abs(exp(Double(model.logp[r]) - Double(lpOld[r])) - 1)) }
                    }
                    let n = Double(res.tokens)
                    loss += res.loss; pg += res.pgLoss
                    klSum += res.meanKL * n; entSum += res.meanEntropy * n
                    nLow += res.clipFracLow * n; nHigh += res.clipFracHigh * n
                    model.backward(withEntropy: withEnt)
                    start = end
                }
                let norm = model.gradNorm()
                let updateIndex = epoch * mbCount + mb + 1, updates = config.rl.epochs * mbCount
                if epoch == 0 && mb == 0 { m.maxRatioDeviation = maxDev }
                guard loss.isFinite && norm.isFinite else {
                    m.skippedSteps += 1
                    trainer.skippedSteps += 1
                    if epoch == 0 { m.loss += loss; m.pgLoss += pg }
                    m.gradNorm = norm
                    _ = progress?("update", updateIndex, updates)
                    continue
                }
                if epoch == 0 {
                    m.loss += loss; m.pgLoss += pg
                    m.kl += klSum; m.entropy += entSum
                    m.clipFracLow += nLow; m.clipFracHigh += nHigh
                }
                let lr = (config.schedule ?? trainer.config.schedule).at(trainer.step)
                model.adamwStep(t: trainer.step + 1, lr: lr, hyper: trainer.config.adam, clip: trainer.config.gradClip,
                                norm: norm)
                trainer.step += 1
                m.optimizerSteps += 1
                _ = progress?("update", updateIndex, updates)
                m.gradNorm = norm; m.lr = lr
            }
        }
        let d = Double(max(m.trainedTokens, 1))
        m.kl /= d; m.entropy /= d; m.clipFracLow /= d; m.clipFracHigh /= d
    }

    /// Writes rows[chunk] into the model's inputs at the current pass shape (row stride
    /// `model.pass.seq`) as [BOS] prompt trajectory PAD… with targets on the trajectory tokens
    /// only, and π_old / advantages / sequence index (row − `base`) / mask per position.
    func fillChunk(_ rows: [RLRow], _ chunk: ArraySlice<Int>, base: Int, prompts: [[Int32]]) {
        let T = model.pass.seq, pad = trainer.tokenizer.pad
        for (b, ri) in chunk.enumerated() {
            let o = b * T
            for i in 0..<T {
                model.tokens[o + i] = pad; model.targets[o + i] = -1
                lpOld[o + i] = 0; adv[o + i] = 0; seqIdx[o + i] = 0; mask[o + i] = false
            }
            let row = rows[ri], pr = prompts[row.prompt]
            let L = pr.count
            for i in 0..<min(L, T) { model.tokens[o + i] = pr[i] }
            for (j, t) in row.tokens.enumerated() {
                let pos = L + j            // position of this token in the sequence
                if pos < T { model.tokens[o + pos] = t }
                let at = o + pos - 1       // predicted from position pos − 1
                model.targets[at] = t
                lpOld[at] = row.logps[j]; adv[at] = row.advantages[j]
                seqIdx[at] = Int32(ri - base); mask[at] = true
            }
        }
    }
}
