import CIBTPO

extension StepStats {
    var c: ibtpo_step_stats {
        ibtpo_step_stats(struct_size: UInt32(MemoryLayout<ibtpo_step_stats>.size), step: Int64(step), loss: loss,
                         grad_norm: gradNorm, lr: lr, tokens: Int64(tokens), seconds: seconds)
    }
}

@c @implementation
public func ibtpo_trainer_step_sft(_ trainer: OpaquePointer?, _ task: OpaquePointer?,
                                   _ out: UnsafeMutablePointer<ibtpo_step_stats>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let th = try TaskHandle.require(task)
        if let out { try checkStructSize(out.pointee.struct_size, MemoryLayout<ibtpo_step_stats>.size, "ibtpo_step_stats", output: true) }
        guard th.hasSolutions else {
            throw invalid("the task has neither answers nor solutions: there is nothing to train on with SFT")
        }
        // The batcher is copied and stored back only on success, so a failed step leaves
        // the SFT order where it was. (`fill` sets the pass shape only once every row fits;
        // `supervisedStep` restores it, also when it throws.)
        var batcher = h.sft.flatMap { $0.task === th ? $0.batcher : nil }
            ?? SFTBatcher(task: th.task, seed: h.trainer.config.seed ^ 0x5F7_0DE7, for: h.trainer)
        _ = try batcher.fill(h.trainer.model)
        let stats = try h.trainer.supervisedStep()
        if stats.tokens == 0 { h.warnNothingToLearn() }
        h.sft = (th, batcher)
        out?.pointee = stats.c
    }
}

extension ibtpo_eval_config {
    static var defaults: ibtpo_eval_config {
        ibtpo_eval_config(struct_size: UInt32(MemoryLayout<ibtpo_eval_config>.size), count: 256, k: 8,
                          sampling: SamplingParams.paper.c, seed: 12345)
    }
}

@c @implementation
public func ibtpo_eval_config_default(_ cfg: UnsafeMutablePointer<ibtpo_eval_config>?) -> ibtpo_status {
    fillDefault(cfg, ibtpo_eval_config.defaults)
}

@c @implementation
public func ibtpo_trainer_evaluate(_ trainer: OpaquePointer?, _ task: OpaquePointer?,
                                   _ cfg: UnsafePointer<ibtpo_eval_config>?,
                                   _ out: UnsafeMutablePointer<ibtpo_eval_result>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let th = try TaskHandle.require(task)
        guard let cfg else { throw invalid("cfg is NULL") }
        guard let out else { throw invalid("out is NULL") }
        let e = cfg.pointee
        try checkStructSize(e.struct_size, MemoryLayout<ibtpo_eval_config>.size, "ibtpo_eval_config")
        try checkStructSize(e.sampling.struct_size, MemoryLayout<ibtpo_sampling_config>.size, "ibtpo_eval_config.sampling")
        try checkStructSize(out.pointee.struct_size, MemoryLayout<ibtpo_eval_result>.size, "ibtpo_eval_result", output: true)
        let sampling = try SamplingParams(c: e.sampling, vocab: h.trainer.config.model.vocab, name: "cfg.sampling",
                                        eos: h.trainer.tokenizer.eos)
        guard e.count >= 1 && e.count <= 1 << 20 else { throw invalid("cfg.count must be in 1...1048576 (got \(e.count))") }
        guard e.k >= 0 && e.k <= 1024 else { throw invalid("cfg.k must be in 0...1024 (got \(e.k))") }
        guard h.trainer.config.rolloutSlots > 0 else { throw invalid("the trainer has no sampler (rollout_slots = 0)") }
        let r = try h.trainer.evaluate(task: th.task, count: Int(e.count), k: Int(e.k), sampling: sampling, seed: e.seed,
                                       reward: try h.rewardFunction(for: th), progress: h.progressClosure("evaluate"))
        out.pointee = ibtpo_eval_result(struct_size: UInt32(MemoryLayout<ibtpo_eval_result>.size), problems: Int64(r.problems),
                                        greedy_accuracy: r.greedyAccuracy, avg_at_k: r.avgAtK, pass_at_k: r.passAtK,
                                        mean_length: r.meanLength, truncated_fraction: r.truncatedFraction,
                                        seconds: r.seconds)
        h.info("evaluate: \(r.problems) problems, greedy \(r.greedyAccuracy), avg@\(r.k) \(r.avgAtK), pass@\(r.k) \(r.passAtK)")
    }
}
