import CIBTPO

@c @implementation
public func ibtpo_trainer_create(_ cfg: UnsafePointer<ibtpo_trainer_config>?,
                                 _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let out else { throw invalid("out is NULL") }
        out.pointee = nil
        guard let cfg else { throw invalid("cfg is NULL") }
        let config = try TrainerConfig(c: cfg.pointee)
        let handle = TrainerHandle(try Trainer(config))
        out.pointee = LiveHandles.register(handle, kind: .trainer)
    }
}

@c @implementation
public func ibtpo_trainer_free(_ trainer: OpaquePointer?) {
    LiveHandles.release(trainer, kind: .trainer, as: TrainerHandle.self)
}

@c @implementation
public func ibtpo_trainer_get_config(_ trainer: OpaquePointer?, _ out: UnsafeMutablePointer<ibtpo_trainer_config>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let out else { throw invalid("out is NULL") }
        try checkStructSize(out.pointee.struct_size, MemoryLayout<ibtpo_trainer_config>.size, "ibtpo_trainer_config", output: true)
        try checkStructSize(out.pointee.model.struct_size, MemoryLayout<ibtpo_model_config>.size, "ibtpo_trainer_config.model",
                            output: true)
        out.pointee = h.trainer.config.c
    }
}

@c @implementation
public func ibtpo_trainer_get_step(_ trainer: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let out else { throw invalid("out_step is NULL") }
        out.pointee = Int64(h.trainer.step)
    }
}

@c @implementation
public func ibtpo_trainer_step_supervised(_ trainer: OpaquePointer?, _ tokens: UnsafePointer<Int32>?,
                                          _ targets: UnsafePointer<Int32>?, _ weights: UnsafePointer<Float>?,
                                          _ nSeqs: Int64, _ seqLen: Int64,
                                          _ out: UnsafeMutablePointer<ibtpo_step_stats>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let t = h.trainer
        guard let tokens else { throw invalid("tokens is NULL") }
        guard let targets else { throw invalid("targets is NULL") }
        if let out {
            try checkStructSize(out.pointee.struct_size, MemoryLayout<ibtpo_step_stats>.size, "ibtpo_step_stats", output: true)
        }
        guard nSeqs == Int64(t.config.batch) && seqLen == Int64(t.config.seq) else {
            throw invalid("batch shape \(nSeqs)×\(seqLen) differs from the trainer's \(t.config.batch)×\(t.config.seq)")
        }
        let stats = try t.supervisedStep(tokens: tokens, targets: targets, weights: weights)
        if stats.tokens == 0 { h.warnNothingToLearn() }
        out?.pointee = stats.c
    }
}

@c @implementation
public func ibtpo_trainer_save(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let path else { throw invalid("path is NULL") }
        try Checkpoint.save(h.trainer, path: String(cString: path))
    }
}

@c @implementation
public func ibtpo_trainer_load(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let path else { throw invalid("path is NULL") }
        try Checkpoint.load(h.trainer, path: String(cString: path))
    }
}
