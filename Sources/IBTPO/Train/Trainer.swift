import Glibc

/// Statistics of one optimisation step.
public struct StepStats: Equatable, Sendable {
    public var step: Int = 0
    public var loss: Float = 0
    public var gradNorm: Float = 0
    public var lr: Float = 0
    public var tokens: Int = 0
    public var seconds: Double = 0
    /// 1 when the loss or the gradient norm was not finite and the optimiser step was
    /// skipped (parameters, AdamW moments and `step` unchanged), else 0.
    public var skippedSteps: Int = 0
}

/// A model plus its optimiser state, step counter and RNG: the object behind an
/// `ibtpo_trainer` handle. Not thread-safe; one thread drives one trainer at a time.
public final class Trainer {
    /// The configuration; only `threads` can change after creation (`setThreads`).
    public internal(set) var config: TrainerConfig
    public let model: Model
    /// The byte tokenizer for the models libibtpo initialises; a pretrained model's own.
    public let tokenizer: any Tokenizer
    /// How task prompts become tokens (chat template, system message, BOS).
    public var promptFormat = PromptFormat()
    /// The Jinja source of a pretrained model's chat template (nil: none).
    public internal(set) var chatTemplateSource: String?
    public internal(set) var step = 0
    /// Optimiser steps skipped since creation because their loss or gradient was not finite
    /// (supervised and RL updates alike). Not saved in checkpoints; callers that stop a run
    /// after repeated skips watch `StepStats.skippedSteps` / `RLStepMetrics.skippedSteps`.
    public internal(set) var skippedSteps = 0
    public var rng: Rng
    /// Named byte blobs saved with (and restored from) a checkpoint, such as a pretrained
    /// model's "tokenizer.json" and "chat_template"; names match [a-z0-9_.]{1,64}, at most
    /// `Checkpoint.maxAssets`. Empty for the models libibtpo initialises.
    public var assets: [String: [UInt8]] = [:]
    var rolloutSampler: RolloutSampler?

    /// The tokens of a task prompt (`promptFormat` applied with this trainer's tokenizer).
    public func promptTokens(_ prompt: String) -> [Int32] { promptFormat.tokens(for: prompt, tokenizer: tokenizer) }

    /// The arena a config needs, without allocating it.
    public static func plan(_ config: TrainerConfig) throws -> MemoryPlan {
        try config.validate()
        return try Model.plan(config.model, config.shape, decodeSlots: config.rolloutSlots)
    }

    /// A trainer for `config`, with `tokenizer` (default: the byte tokenizer), whose ids must
    /// lie below the model's vocab. `initialize: false` leaves the weights zero for a caller
    /// that loads them next (see `Trainer(pretrained:config:)`).
    public init(_ config: TrainerConfig, tokenizer: (any Tokenizer)? = nil, initialize: Bool = true) throws {
        try config.validate()
        let tok = tokenizer ?? ByteTokenizer()
        guard config.model.vocab >= tok.vocabSize else {
            throw invalid("vocab must be ≥ \(tok.vocabSize) for the tokenizer (got \(config.model.vocab))")
        }
        self.config = config
        self.tokenizer = tok
        model = try Model(config: config.model, shape: config.shape, threads: config.threads, seed: config.seed,
                          decodeSlots: config.rolloutSlots, initialize: initialize)
        rng = Rng(seed: config.seed ^ 0x5EED_5EED_5EED_5EED)
    }

    /// Validates a caller's batch (B·T row-major: tokens in 0..<vocab, targets in 0..<vocab
    /// or -1, weights finite and ≥ 0, or nil for all ones), copies it into the model's
    /// input buffers and runs `supervisedStep()`. Throws before touching any state.
    public func supervisedStep(tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>,
                               weights: UnsafePointer<Float>?) throws -> StepStats {
        let N = config.shape.tokens, V = Int32(config.model.vocab)
        for r in 0..<N {
            guard tokens[r] >= 0 && tokens[r] < V else {
                throw IBTPOError(.badData, "tokens[\(r)] = \(tokens[r]) is outside [0, \(V))")
            }
            guard targets[r] >= -1 && targets[r] < V else {
                throw IBTPOError(.badData, "targets[\(r)] = \(targets[r]) is outside [-1, \(V))")
            }
            if let weights {
                guard weights[r].isFinite && weights[r] >= 0 && weights[r] < 1e30 else {
                    throw IBTPOError(.badData, "weights[\(r)] = \(weights[r]) must be finite and ≥ 0")
                }
            }
        }
        for r in 0..<N {
            model.tokens[r] = tokens[r]
            model.targets[r] = targets[r]
            model.coef[r] = -(weights?[r] ?? 1)
        }
        return try supervisedStep()
    }

    /// One supervised step on a batch already written into `model.tokens`/`targets`
    /// (target -1 = ignored) with `model.coef[r]` = −weight of token r, at the model's current
    /// pass shape (`Model.setPass`, e.g. set by `SFTBatcher.fill`); the full shape is restored after.
    /// Loss = Σ w_r·(−log p(target_r)) / Σ w_r. Allocates nothing. If the loss or the
    /// gradient norm is not finite, the optimiser step is skipped: parameters, AdamW moments
    /// and `step` are unchanged, `skippedSteps` is incremented, and the returned stats carry
    /// `skippedSteps = 1` with the non-finite loss / norm (the call does not throw).
    /// A batch with nothing to learn (Σ w_r = 0: every target -1 or every weight 0) is a
    /// no-op: no forward, backward or optimiser update (so no weight decay either), the step
    /// counter is unchanged, and the stats say tokens 0, loss 0, grad_norm 0.
    public func supervisedStep() throws -> StepStats {
        let t0 = monotonicSeconds()
        defer { model.resetPass() }
        let N = model.pass.tokens
        var wsum: Float = 0
        var tokens = 0
        for r in 0..<N {
            if model.targets[r] < 0 { model.coef[r] = 0 } else if model.coef[r] != 0 { tokens += 1 }
            wsum += -model.coef[r]
        }
        guard wsum > 0 else {
            return StepStats(step: step, loss: 0, gradNorm: 0, lr: config.schedule.at(step), tokens: 0,
                             seconds: monotonicSeconds() - t0)
        }
        let inv: Float = 1 / wsum
        for r in 0..<N { model.coef[r] *= inv }
        model.forward()
        var loss: Double = 0
        for r in 0..<N { loss += Double(-model.coef[r]) * Double(-model.logp[r]) }
        model.zeroGrads()
        model.backward()
        let norm = model.gradNorm()
        let lr = config.schedule.at(step)
        guard loss.isFinite && norm.isFinite else {
            skippedSteps += 1
            return StepStats(step: step, loss: Float(loss), gradNorm: norm, lr: lr, tokens: tokens,
                             seconds: monotonicSeconds() - t0, skippedSteps: 1)
        }
        model.adamwStep(t: step + 1, lr: lr, hyper: config.adam, clip: config.gradClip, norm: norm)
        step += 1
        return StepStats(step: step, loss: Float(loss), gradNorm: norm, lr: lr, tokens: tokens,
                         seconds: monotonicSeconds() - t0)
    }
}
