import CIBTPO

extension ModelConfig {
    init(c m: ibtpo_model_config) throws {
        try checkStructSize(m.struct_size, MemoryLayout<ibtpo_model_config>.size, "ibtpo_model_config")
        guard m.tie_embeddings == 0 || m.tie_embeddings == 1 else {
            throw invalid("tie_embeddings must be 0 or 1 (got \(m.tie_embeddings))")
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
