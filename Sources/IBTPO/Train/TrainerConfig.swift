/// Everything that defines a trainer: the model, the batch shape, threads, seed and the
/// optimiser. `validate()` names the first bad field.
public struct TrainerConfig: Equatable, Sendable {
    public var model: ModelConfig = .tiny
    public var batch: Int = 32
    public var seq: Int = 64
    public var threads: Int = 2
    public var seed: UInt64 = 1
    public var lr: Float = 3e-3
    public var minLR: Float = 3e-4
    public var warmup: Int = 20
    public var totalSteps: Int = 1000
    public var adam = AdamWHyper()
    public var gradClip: Float = 1.0
    /// Concurrent rollout sequences the model's decoder (KV cache) holds; 0 = no decoder.
    public var rolloutSlots: Int = 64

    public init() { adam.weightDecay = 0.01 }

    public var shape: TrainShape { TrainShape(batch: batch, seq: seq) }
    public var schedule: LRSchedule { LRSchedule(lr: lr, minLR: minLR, warmup: warmup, total: totalSteps) }

    public func validate() throws {
        try Model.validate(model, shape, decodeSlots: rolloutSlots)
        guard threads >= 1 && threads <= 64 else { throw invalid("threads must be in 1...64 (got \(threads))") }
        guard lr.isFinite && lr > 0 && lr < 10 else { throw invalid("lr must be in (0, 10) (got \(lr))") }
        guard minLR.isFinite && minLR >= 0 && minLR <= lr else { throw invalid("min_lr must be in [0, lr] (got \(minLR))") }
        guard warmup >= 0 && totalSteps >= 0 else { throw invalid("warmup and total_steps must be ≥ 0") }
        guard adam.beta1 >= 0 && adam.beta1 < 1 && adam.beta2 >= 0 && adam.beta2 < 1 else {
            throw invalid("adam betas must be in [0, 1)")
        }
        guard adam.eps.isFinite && adam.eps > 0 else { throw invalid("adam eps must be > 0") }
        guard adam.weightDecay.isFinite && adam.weightDecay >= 0 && adam.weightDecay < 1 else {
            throw invalid("weight decay must be in [0, 1)")
        }
        guard gradClip.isFinite && gradClip >= 0 else { throw invalid("grad clip must be ≥ 0 (0 = off)") }
    }
}
