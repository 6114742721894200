import CIBTPO

extension ModelConfig {
    init(c m: ibtpo_model_config) throws {
        try checkStructSize(m.struct_size, MemoryLayout<ibtpo_model_config>.size, "ibtpo_model_config")
        guard m.tie_embeddings == 0 || m.tie_embeddings == 1 else {
            throw invalid("tie_embeddings must be 0 or 1 (got \(m.tie_embeddings))")
        }
        // The C struct has no head_dim: it is d_model / n_heads, which must be whole.
        guard m.n_heads >= 1 && m.d_model % m.n_heads == 0 else {
            throw invalid("model config: d_model (\(m.d_model)) must be a multiple of n_heads (\(m.n_heads))")
        }
        self.init(vocab: Int(m.vocab), dModel: Int(m.d_model), nLayers: Int(m.n_layers), nHeads: Int(m.n_heads),
                  nKVHeads: Int(m.n_kv_heads), dFF: Int(m.d_ff), maxSeq: Int(m.max_seq), ropeTheta: m.rope_theta,
                  normEps: m.norm_eps, tieEmbeddings: m.tie_embeddings == 1)
        try validate()
    }

    var c: ibtpo_model_config {
        ibtpo_model_config(struct_size: UInt32(MemoryLayout<ibtpo_model_config>.size), vocab: Int32(vocab),
                           d_model: Int32(dModel), n_layers: Int32(nLayers), n_heads: Int32(nHeads),
                           n_kv_heads: Int32(nKVHeads), d_ff: Int32(dFF), max_seq: Int32(maxSeq),
                           rope_theta: ropeTheta, norm_eps: normEps, tie_embeddings: tieEmbeddings ? 1 : 0)
    }
}

extension TrainerConfig {
    init(c t: ibtpo_trainer_config) throws {
        try checkStructSize(t.struct_size, MemoryLayout<ibtpo_trainer_config>.size, "ibtpo_trainer_config")
        self.init()
        model = try ModelConfig(c: t.model)
        batch = Int(t.batch); seq = Int(t.seq); threads = Int(t.threads); seed = t.seed
        lr = t.lr; minLR = t.min_lr; warmup = Int(t.warmup_steps); totalSteps = Int(t.total_steps)
        adam.beta1 = t.beta1; adam.beta2 = t.beta2; adam.eps = t.adam_eps; adam.weightDecay = t.weight_decay
        gradClip = t.grad_clip
        rolloutSlots = Int(t.rollout_slots)
        try validate()
    }

    var c: ibtpo_trainer_config {
        ibtpo_trainer_config(struct_size: UInt32(MemoryLayout<ibtpo_trainer_config>.size), model: model.c,
                             batch: Int32(batch), seq: Int32(seq), threads: Int32(threads), seed: seed, lr: lr,
                             min_lr: minLR, warmup_steps: Int32(warmup), total_steps: Int32(totalSteps),
                             beta1: adam.beta1, beta2: adam.beta2, adam_eps: adam.eps,
                             weight_decay: adam.weightDecay, grad_clip: gradClip, rollout_slots: Int32(rolloutSlots))
    }
}

@c @implementation
public func ibtpo_model_config_default(_ cfg: UnsafeMutablePointer<ibtpo_model_config>?) -> ibtpo_status {
    fillDefault(cfg, ModelConfig.tiny.c)
}

@c @implementation
public func ibtpo_trainer_config_default(_ cfg: UnsafeMutablePointer<ibtpo_trainer_config>?) -> ibtpo_status {
    fillDefault(cfg, TrainerConfig().c)
}

/// sizeof(ibtpo_memory_plan) in 0.1, before kv_cache_bytes was appended.
let ibtpo_memory_plan_size_v0_1 = 64

@c @implementation
public func ibtpo_memory_plan_for(_ cfg: UnsafePointer<ibtpo_trainer_config>?,
                                  _ out: UnsafeMutablePointer<ibtpo_memory_plan>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let cfg else { throw invalid("cfg is NULL") }
        guard let out else { throw invalid("out is NULL") }
        // 0.1 callers pass the struct without kv_cache_bytes (its size then was 64 bytes):
        // fill exactly the bytes they have.
        let size = Int(out.pointee.struct_size), full = MemoryLayout<ibtpo_memory_plan>.size
        if size != ibtpo_memory_plan_size_v0_1 {
            try checkStructSize(out.pointee.struct_size, full, "ibtpo_memory_plan", output: true)
        }
        let config = try TrainerConfig(c: cfg.pointee)
        let plan = try Trainer.plan(config)
        var r = ibtpo_memory_plan()
        r.struct_size = UInt32(MemoryLayout<ibtpo_memory_plan>.size)
        r.total_bytes = UInt64(plan.totalBytes)
        for g in plan.groups {
            switch g.name {
            case "params": r.parameter_bytes += UInt64(g.bytes)
            case "grads": r.gradient_bytes += UInt64(g.bytes)
            case "adamw": r.optimizer_bytes += UInt64(g.bytes)
            case "activations": r.activation_bytes += UInt64(g.bytes)
            case "kv_cache", "decode": r.kv_cache_bytes += UInt64(g.bytes); r.scratch_bytes += UInt64(g.bytes)
            default: r.scratch_bytes += UInt64(g.bytes)
            }
        }
        r.parameter_count = UInt64(ParamLayout(config.model).parameterCount)
        r.struct_size = UInt32(min(size, full))
        withUnsafeBytes(of: &r) { src in
            UnsafeMutableRawPointer(out).copyMemory(from: src.baseAddress!, byteCount: min(size, full))
        }
    }
}

// ---- One table of defaults for every front end ------------------------------------------

/// The values the C API's `*_default()` fillers write, as Swift values for the front ends
/// written in Swift (the `ibtpo` CLI). Each entry is the expression its filler writes (or
/// reads that filler's struct back), so C, Python (whose dataclasses read the fillers at
/// import) and the CLI share one source: the core config types' default values.
public enum APIDefaults {
    /// `ibtpo_model_config_default`: the tiny model.
    public static var model: ModelConfig { .tiny }
    /// `ibtpo_trainer_config_default`.
    public static var trainer: TrainerConfig { TrainerConfig() }
    /// `ibtpo_sampling_config_default`: the paper's sampling.
    public static var sampling: SamplingParams { .paper }
    /// `ibtpo_rl_config_default`, but for `lr` (see `rlLearningRate`).
    public static var rl: RLTrainerConfig { RLTrainerConfig() }
    /// `ibtpo_rl_config_default`'s `lr`: the learning rate of RL updates.
    public static var rlLearningRate: Float { RLTrainerConfig().c.lr }
    /// `ibtpo_eval_config_default`: problems, samples per problem, their sampling, seed.
    public static var eval: (count: Int, k: Int, sampling: SamplingParams, seed: UInt64) {
        let e = ibtpo_eval_config.defaults, s = e.sampling
        return (Int(e.count), Int(e.k),
                SamplingParams(temperature: s.temperature, topK: Int(s.top_k), topP: s.top_p,
                               maxNewTokens: Int(s.max_new_tokens), eos: s.stop_at_eos == 1 ? ByteTokenizer().eos : nil),
                e.seed)
    }
}

/// The configs a front end hands to the core, as `(name, value)` pairs in the header's field
/// names (`ibtpo sft|train|eval --print-config`), read through the C mapping (`.c`) that the
/// C entry points use. Enums print as the names the Python binding accepts ("ibtpo",
/// "entropy", "token_mean", "length_normalized"); flags as 0 or 1.
public enum ConfigFields {
    public static func model(_ m: ModelConfig, prefix: String = "model.") -> [(String, String)] {
        let c = m.c
        return [("vocab", "\(c.vocab)"), ("d_model", "\(c.d_model)"), ("n_layers", "\(c.n_layers)"),
                ("n_heads", "\(c.n_heads)"), ("n_kv_heads", "\(c.n_kv_heads)"), ("d_ff", "\(c.d_ff)"),
                ("max_seq", "\(c.max_seq)"), ("rope_theta", "\(c.rope_theta)"), ("norm_eps", "\(c.norm_eps)"),
                ("tie_embeddings", "\(c.tie_embeddings)")].map { (prefix + $0.0, $0.1) }
    }

    /// The trainer's fields without its model (`model(_:)` prints that).
    public static func trainer(_ t: TrainerConfig, prefix: String = "trainer.") -> [(String, String)] {
        let c = t.c
        return [("batch", "\(c.batch)"), ("seq", "\(c.seq)"), ("threads", "\(c.threads)"), ("seed", "\(c.seed)"),
                ("lr", "\(c.lr)"), ("min_lr", "\(c.min_lr)"), ("warmup_steps", "\(c.warmup_steps)"),
                ("total_steps", "\(c.total_steps)"), ("beta1", "\(c.beta1)"), ("beta2", "\(c.beta2)"),
                ("adam_eps", "\(c.adam_eps)"), ("weight_decay", "\(c.weight_decay)"), ("grad_clip", "\(c.grad_clip)"),
                ("rollout_slots", "\(c.rollout_slots)")].map { (prefix + $0.0, $0.1) }
    }

    public static func sampling(_ s: SamplingParams, prefix: String) -> [(String, String)] {
        let c = s.c
        return [("temperature", "\(c.temperature)"), ("top_k", "\(c.top_k)"), ("top_p", "\(c.top_p)"),
                ("max_new_tokens", "\(c.max_new_tokens)"), ("stop_at_eos", "\(c.stop_at_eos)")]
            .map { (prefix + $0.0, $0.1) }
    }

    public static func rl(_ r: RLTrainerConfig, prefix: String = "rl.") -> [(String, String)] {
        let c = r.c
        let rule = ["ib", "random", "entropy", "fixed"], loss = ["token_mean", "sequence_mean", "constant"]
        func name(_ names: [String], _ v: Int32) -> String { v >= 0 && Int(v) < names.count ? names[Int(v)] : "\(v)" }
        let f: [(String, String)] = [
            ("algo", c.algo == IBTPO_ALGO_GRPO ? "grpo" : "ibtpo"), ("prompts_per_step", "\(c.prompts_per_step)"),
            ("group_size", "\(c.group_size)"), ("tree_b0", "\(c.tree_b0)"), ("tree_l", "\(c.tree_l)"),
            ("tree_k", "\(c.tree_k)"), ("tree_b", "\(c.tree_b)"), ("branch_rule", name(rule, c.branch_rule)),
            ("fixed_max_depth", "\(c.fixed_max_depth)"), ("beta", "\(c.beta)"), ("lambda", "\(c.lambda)"),
            ("clip_low", "\(c.clip_low)"), ("clip_high", "\(c.clip_high)"), ("kl_coef", "\(c.kl_coef)"),
            ("entropy_coef", "\(c.entropy_coef)"), ("loss_aggregation", name(loss, c.loss_aggregation)),
            ("epochs", "\(c.epochs)"), ("minibatches", "\(c.minibatches)"),
            ("pibar_form", name(["length_normalized", "product"], c.pibar_form)),
            ("ratio_when_parent_zero", "\(c.ratio_when_parent_zero)"), ("sqrt_n_weighting", "\(c.sqrt_n_weighting)"),
            ("probe_every", "\(c.probe_every)"), ("lr", "\(c.lr)"), ("reset_optimizer", "\(c.reset_optimizer)"),
            ("seed", "\(c.seed)"), ("expand_root", "\(c.expand_root)"),
        ]
        return f.map { (prefix + $0.0, $0.1) } + sampling(r.sampling, prefix: prefix + "sampling.")
    }

    public static func eval(count: Int, k: Int, sampling s: SamplingParams, seed: UInt64,
                            prefix: String = "eval.") -> [(String, String)] {
        [(prefix + "count", "\(count)"), (prefix + "k", "\(k)")] + sampling(s, prefix: prefix + "sampling.")
            + [(prefix + "seed", "\(seed)")]
    }
}
