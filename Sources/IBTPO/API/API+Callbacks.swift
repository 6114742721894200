import CIBTPO

@c @implementation
public func ibtpo_trainer_set_reward_fn(_ trainer: OpaquePointer?, _ fn: ibtpo_reward_fn?,
                                        _ userData: UnsafeMutableRawPointer?) -> ibtpo_status {
    onHandle(trainer) { h in
        h.reward = fn.map { CReward(fn: $0, user: userData) }   // used from the next RL step or evaluation on
    }
}

@c @implementation
public func ibtpo_trainer_set_log_fn(_ trainer: OpaquePointer?, _ fn: ibtpo_log_fn?,
                                     _ userData: UnsafeMutableRawPointer?) -> ibtpo_status {
    onHandle(trainer) { h in h.log = fn.map { ($0, userData) } }
}

@c @implementation
public func ibtpo_trainer_set_progress_fn(_ trainer: OpaquePointer?, _ fn: ibtpo_progress_fn?,
                                          _ userData: UnsafeMutableRawPointer?) -> ibtpo_status {
    onHandle(trainer) { h in h.progress = fn.map { ($0, userData) } }
}

@c @implementation
public func ibtpo_trainer_set_threads(_ trainer: OpaquePointer?, _ threads: Int32) -> ibtpo_status {
    onHandle(trainer) { h in try h.trainer.setThreads(Int(threads)) }
}

@c @implementation
public func ibtpo_trainer_get_threads(_ trainer: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let out else { throw invalid("out_threads is NULL") }
        out.pointee = Int32(h.trainer.config.threads)
    }
}
