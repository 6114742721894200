import ArgumentParser
import IBTPO

/// Held-out evaluation settings shared by `sft`, `eval` and `train`.
struct EvalOptions: ParsableArguments {
    @Option(help: "Held-out (test split) problems to evaluate (0 = skip).") var evalCount: Int = 256
    @Option(help: "Samples per problem for avg@k and pass@k (0 = greedy only).") var k: Int = 8
    @Option(help: "Sampling temperature for avg@k.") var evalTemperature: Float = 0.7
    @Option(help: "Top-k for avg@k (0 = off).") var evalTopK: Int = 20
    @Option(help: "Top-p for avg@k (1 = off).") var evalTopP: Float = 0.95
    @Option(help: "Evaluation seed.") var evalSeed: UInt64 = 12345

    @discardableResult
    func run(_ trainer: Trainer, task: any TrainingTask, maxNew: Int) throws -> EvalResult {
        let params = SamplingParams(temperature: evalTemperature, topK: evalTopK, topP: evalTopP, maxNewTokens: maxNew)
        let r = try trainer.evaluate(task: task, count: evalCount, k: k, sampling: params, seed: evalSeed)
        var line = "eval (\(r.problems) held-out \(task.name) problems): greedy \(fmt(r.greedyAccuracy * 100, 1))%"
        if r.k > 0 {
            line += ", avg@\(r.k) \(fmt(r.avgAtK * 100, 1))%, pass@\(r.k) \(fmt(r.passAtK * 100, 1))% "
                + "(T=\(fmt(Double(evalTemperature), 2)), top-k \(evalTopK), top-p \(fmt(Double(evalTopP), 2)))"
        }
        line += ", mean length \(fmt(r.meanLength, 1)), truncated \(fmt(r.truncatedFraction * 100, 1))%, \(fmt(r.seconds, 1)) s"
        print(line)
        return r
    }

    /// The result as one JSON Lines record for a training log.
    static func jsonLine(step: Int, generatedTotal: Int, _ r: EvalResult) -> String {
        "{\"step\": \(step), \"generated_tokens_total\": \(generatedTotal), \"eval_problems\": \(r.problems), "
            + "\"eval_greedy\": \(r.greedyAccuracy), \"eval_k\": \(r.k), \"eval_avg_at_k\": \(r.avgAtK), "
            + "\"eval_pass_at_k\": \(r.passAtK), \"eval_mean_length\": \(r.meanLength)}"
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate a checkpoint on a task's held-out split: greedy accuracy, avg@k, pass@k.")
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @OptionGroup var evalOpts: EvalOptions
    @Option(help: "Checkpoint to evaluate.") var checkpoint: String
    @Option(help: "Context length (prompt + completion + 2).") var seq: Int = 96

    func run() throws {
        try reportingErrors {
            let header = try Checkpoint.readHeader(path: checkpoint)
            var cfg = TrainerConfig()
            cfg.model = header.config
            cfg.batch = 1; cfg.seq = min(seq, header.config.maxSeq); cfg.threads = opts.threads
            let trainer = try Trainer(cfg)
            try Checkpoint.load(trainer, path: checkpoint)
            let task = try taskOpts.load(maxTokens: cfg.seq)
            print("checkpoint \(checkpoint): step \(trainer.step), \(ParamLayout(cfg.model).parameterCount) parameters")
            try evalOpts.run(trainer, task: task, maxNew: cfg.seq - 2)
        }
    }
}

/// Sampling settings of the rollout commands (`sample`, `tree-bench`, `train`).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0.7
    @Option(help: "Sampling top-k (0 = off).") var topK: Int = 20
    @Option(help: "Sampling top-p (1 = off).") var topP: Float = 0.95
    @Option(help: "Maximum new tokens per response.") var maxNew: Int = 94

    /// The parameters, with the completion capped to fit `maxSeq` after a short prompt.
    func params(maxSeq: Int) -> SamplingParams {
        SamplingParams(temperature: temperature, topK: topK, topP: topP, maxNewTokens: max(1, min(maxNew, maxSeq - 2)))
    }

    var summary: String { "T=\(fmt(Double(temperature), 2)) top-k \(topK) top-p \(fmt(Double(topP), 2))" }
}
