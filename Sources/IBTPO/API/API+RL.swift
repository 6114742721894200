import CIBTPO
import Glibc

extension RLTrainerConfig {
    /// From the C struct; every enum and flag is checked and named in errors.
    init(c r: ibtpo_rl_config, vocab: Int, eos: Int32 = ByteTokenizer().eos) throws {
        try checkStructSize(r.struct_size, MemoryLayout<ibtpo_rl_config>.size, "ibtpo_rl_config")
        try checkStructSize(r.sampling.struct_size, MemoryLayout<ibtpo_sampling_config>.size, "ibtpo_rl_config.sampling")
        self.init()
        switch r.algo {
        case IBTPO_ALGO_GRPO: algo = .grpo
        case IBTPO_ALGO_IBTPO: algo = .ibtpo
        default: throw invalid("algo must be IBTPO_ALGO_GRPO (0) or IBTPO_ALGO_IBTPO (1) (got \(r.algo))")
        }
        promptsPerStep = Int(r.prompts_per_step); groupSize = Int(r.group_size)
        tree.initialBranches = Int(r.tree_b0); tree.rounds = Int(r.tree_l); tree.topK = Int(r.tree_k)
        tree.branchWidth = Int(r.tree_b); tree.fixedMaxDepth = Int(r.fixed_max_depth)
        guard let rule = BranchRule(rawValue: r.branch_rule) else {
            throw invalid("branch_rule must be one of IBTPO_BRANCH_IB/RANDOM/ENTROPY/FIXED (0...3) (got \(r.branch_rule))")
        }
        tree.rule = rule
        rl = try RLConfig(cAdvantage: r)
        rl.clipLow = r.clip_low; rl.clipHigh = r.clip_high; rl.klCoef = r.kl_coef; rl.entropyCoef = r.entropy_coef
        switch r.loss_aggregation {
        case IBTPO_LOSS_TOKEN_MEAN: rl.aggregation = .tokenMean
        case IBTPO_LOSS_SEQUENCE_MEAN: rl.aggregation = .sequenceMean
        case IBTPO_LOSS_CONSTANT: rl.aggregation = .constant(nil)
        default: throw invalid("loss_aggregation must be IBTPO_LOSS_TOKEN_MEAN/SEQUENCE_MEAN/CONSTANT (0...2) (got \(r.loss_aggregation))")
        }
        rl.epochs = Int(r.epochs); rl.minibatches = Int(r.minibatches)
        guard r.probe_every >= 0 else { throw invalid("probe_every must be >= 0 (got \(r.probe_every))") }
        probeEvery = Int(r.probe_every)
        sampling = try SamplingParams(c: r.sampling, vocab: vocab, name: "sampling", eos: eos)
        guard sampling.eos != nil else { throw invalid("sampling.stop_at_eos must be 1 for RL (responses end at EOS)") }
        guard r.lr.isFinite && r.lr > 0 && r.lr < 1 else { throw invalid("lr must be in (0, 1) (got \(r.lr))") }
        schedule = LRSchedule(lr: r.lr, minLR: r.lr)
        guard r.reset_optimizer == 0 || r.reset_optimizer == 1 else {
            throw invalid("reset_optimizer must be 0 or 1 (got \(r.reset_optimizer))")
        }
        resetOptimizer = r.reset_optimizer == 1
        seed = r.seed
        guard r.expand_root == 0 || r.expand_root == 1 else { throw invalid("expand_root must be 0 or 1 (got \(r.expand_root))") }
        tree.expandRoot = r.expand_root == 1
        probeTree.expandRoot = tree.expandRoot
        try validate()
    }

    /// The C view of this config. Without an RL schedule of its own (the trainer's is then
    /// used) lr reads as 1e-4, the C default.
    var c: ibtpo_rl_config {
        var r = ibtpo_rl_config()
        r.struct_size = UInt32(MemoryLayout<ibtpo_rl_config>.size)
        r.algo = algo == .grpo ? IBTPO_ALGO_GRPO : IBTPO_ALGO_IBTPO
        r.prompts_per_step = Int32(promptsPerStep); r.group_size = Int32(groupSize)
        r.tree_b0 = Int32(tree.initialBranches); r.tree_l = Int32(tree.rounds); r.tree_k = Int32(tree.topK)
        r.tree_b = Int32(tree.branchWidth); r.branch_rule = tree.rule.rawValue; r.fixed_max_depth = Int32(tree.fixedMaxDepth)
        r.beta = rl.beta; r.lambda = rl.lambda; r.clip_low = rl.clipLow; r.clip_high = rl.clipHigh
        r.kl_coef = rl.klCoef; r.entropy_coef = rl.entropyCoef
        switch rl.aggregation {
        case .tokenMean: r.loss_aggregation = IBTPO_LOSS_TOKEN_MEAN
        case .sequenceMean: r.loss_aggregation = IBTPO_LOSS_SEQUENCE_MEAN
        case .constant: r.loss_aggregation = IBTPO_LOSS_CONSTANT   // (a custom constant has no C form)
        }
        r.epochs = Int32(rl.epochs); r.minibatches = Int32(rl.minibatches); r.pibar_form = rl.piBarForm.rawValue
        r.ratio_when_parent_zero = rl.ratioWhenParentZero; r.sqrt_n_weighting = rl.sqrtNWeighting ? 1 : 0
        r.probe_every = Int32(probeEvery); r.sampling = sampling.c; r.lr = schedule?.lr ?? 1e-4; r.reset_optimizer = resetOptimizer ? 1 : 0
        r.seed = seed
        r.expand_root = tree.expandRoot ? 1 : 0
        return r
    }
}

extension RLConfig {
    /// The advantage fields of the C config (β, λ, π̄ form, r when p̂(parent) = 0, 1/√n).
    init(cAdvantage r: ibtpo_rl_config) throws {
        self.init()
        beta = r.beta; lambda = r.lambda; ratioWhenParentZero = r.ratio_when_parent_zero
        guard let form = PiBarForm(rawValue: r.pibar_form) else {
            throw invalid("pibar_form must be IBTPO_PIBAR_LENGTH_NORMALIZED (0) or IBTPO_PIBAR_PRODUCT (1) (got \(r.pibar_form))")
        }
        piBarForm = form
        guard r.sqrt_n_weighting == 0 || r.sqrt_n_weighting == 1 else {
            throw invalid("sqrt_n_weighting must be 0 or 1 (got \(r.sqrt_n_weighting))")
        }
        sqrtNWeighting = r.sqrt_n_weighting == 1
        try validate()
    }
}

@c @implementation
public func ibtpo_rl_config_default(_ cfg: UnsafeMutablePointer<ibtpo_rl_config>?) -> ibtpo_status {
    fillDefault(cfg, RLTrainerConfig().c)
}

@c @implementation
public func ibtpo_trainer_rl_begin(_ trainer: OpaquePointer?, _ task: OpaquePointer?, _ cfg: UnsafePointer<ibtpo_rl_config>?,
                                   _ outBytes: UnsafeMutablePointer<UInt64>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let th = try TaskHandle.require(task)
        guard let cfg else { throw invalid("cfg is NULL") }
        let t = h.trainer
        let config = try RLTrainerConfig(c: cfg.pointee, vocab: t.config.model.vocab, eos: t.tokenizer.eos)
        guard config.sampling.maxNewTokens + 1 < t.config.seq else {
            throw invalid("sampling.max_new_tokens (\(config.sampling.maxNewTokens)) must leave room for the prompt in the "
                + "trainer's seq (\(t.config.seq)); raise seq (up to max_seq \(t.config.model.maxSeq)) or lower max_new_tokens")
        }
        let reward = try h.rewardFunction(for: th)
        let rl = try RLTrainer(trainer: t, task: th.task, config: config)
        rl.rewardFunction = reward
        h.rl = rl; h.rlTask = th
        let bytes = UInt64(t.model.layout.count * 4)
        outBytes?.pointee = bytes
        h.info("rl: \(config.algo.rawValue) on \(th.task.name), \(config.promptsPerStep) prompts × "
            + "\(config.trajectoriesPerPrompt) trajectories per step; reference policy \(bytes) bytes")
    }
}

@c @implementation
public func ibtpo_trainer_step_rl(_ trainer: OpaquePointer?, _ out: UnsafeMutablePointer<ibtpo_rl_metrics>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let rl = h.rl, let th = h.rlTask else { throw invalid("call ibtpo_trainer_rl_begin before ibtpo_trainer_step_rl") }
        if let out { try checkStructSize(out.pointee.struct_size, MemoryLayout<ibtpo_rl_metrics>.size, "ibtpo_rl_metrics", output: true) }
        rl.rewardFunction = try h.rewardFunction(for: th)
        if let rollout = h.progressClosure("rollout"), let update = h.progressClosure("update") {
            rl.progress = { phase, done, total in (phase == "rollout" ? rollout : update)(done, total) }
        } else {
            rl.progress = nil
        }
        let m = try rl.step()
        var r = ibtpo_rl_metrics()
        r.struct_size = UInt32(MemoryLayout<ibtpo_rl_metrics>.size)
        r.step = Int64(m.step); r.optimizer_steps = Int64(m.optimizerSteps)
        r.avg_rate = m.avgRate; r.eff_rate = m.effRate; r.entropy = m.entropy; r.kl = m.kl
        r.clip_frac_low = m.clipFracLow; r.clip_frac_high = m.clipFracHigh; r.grad_norm = Double(m.gradNorm)
        r.loss = m.loss
        r.ib_score = m.ibMeasured ? m.meanIBScore : .nan; r.ib_cov = m.ibMeasured ? m.meanCov : .nan
        r.prompts = Int64(m.prompts); r.trajectories = Int64(m.trajectories)
        r.generated_tokens = Int64(m.generatedTokens); r.trained_tokens = Int64(m.trainedTokens)
        r.trajectories_per_1k_tokens = m.trajectoriesPerKTokens
        r.tree_nodes = Int64(m.shape.nodes); r.branch_points = Int64(m.shape.branchPoints)
        r.mean_branch_depth = m.shape.meanBranchDepth
        r.sampling_seconds = m.samplingSeconds + m.probeSeconds; r.update_seconds = m.updateSeconds
        r.lr = Double(m.lr)
        out?.pointee = r
        h.info("rl step \(m.step): reward \(m.avgRate) eff \(m.effRate) entropy \(m.entropy) kl \(m.kl) "
            + "tokens \(m.generatedTokens)")
        if let w = rl.config.shortfallWarning(m) { h.info(w, level: IBTPO_LOG_WARN) }
        if m.effRate == 0 {
            h.info("rl step \(m.step): every prompt's trajectories got the same reward, so this step had no learning signal",
                   level: IBTPO_LOG_WARN)
        }
    }
}

@c @implementation
public func ibtpo_tree_advantages(_ cfg: UnsafePointer<ibtpo_rl_config>?, _ nNodes: Int64, _ parent: UnsafePointer<Int32>?,
                                  _ tokenCount: UnsafePointer<Int32>?, _ meanLogp: UnsafePointer<Float>?,
                                  _ reward: UnsafePointer<Float>?, _ outScore: UnsafeMutablePointer<Double>?,
                                  _ outAdv: UnsafeMutablePointer<Double>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let cfg else { throw invalid("cfg is NULL") }
        guard let parent else { throw invalid("parent is NULL") }
        guard let tokenCount else { throw invalid("token_count is NULL") }
        guard let meanLogp else { throw invalid("mean_logp is NULL") }
        guard let reward else { throw invalid("reward is NULL") }
        try checkStructSize(cfg.pointee.struct_size, MemoryLayout<ibtpo_rl_config>.size, "ibtpo_rl_config")
        let config = try RLConfig(cAdvantage: cfg.pointee)
        let maxNodes = FlatTreeAdvantages.maxNodes
        guard nNodes >= 2 && nNodes <= Int64(maxNodes) else { throw invalid("n_nodes must be in 2...\(maxNodes) (got \(nNodes))") }
        try FlatTreeAdvantages.compute(config: config, n: Int(nNodes), parent: parent, tokenCount: tokenCount,
                                       meanLogp: meanLogp, reward: reward, outScore: outScore, outAdvantage: outAdv)
    }
}
