import ArgumentParser
import IBTPO

/// Held-out evaluation settings shared by `sft`, `eval` and `train`.
struct EvalOptions: ParsableArguments {
    @Option(help: "Held-out (test split) problems to evaluate, each once: all of them when the split is smaller (0 = skip).") var evalCount: Int = APIDefaults.eval.count
    @Option(help: "Samples per problem for avg@k and pass@k (0 = greedy only).") var k: Int = APIDefaults.eval.k
    @Option(help: "Sampling temperature for avg@k.") var evalTemperature: Float = APIDefaults.eval.sampling.temperature
    @Option(help: "Top-k for avg@k (0 = off).") var evalTopK: Int = APIDefaults.eval.sampling.topK
    @Option(help: "Top-p for avg@k (1 = off).") var evalTopP: Float = APIDefaults.eval.sampling.topP
    @Option(help: "Evaluation seed.") var evalSeed: UInt64 = APIDefaults.eval.seed

    /// The sampling of the k samples, with completions of at most `maxNew` tokens.
    func sampling(maxNew: Int) -> SamplingParams {
        var s = APIDefaults.eval.sampling
        (s.temperature, s.topK, s.topP, s.maxNewTokens) = (evalTemperature, evalTopK, evalTopP, maxNew)
        return s
    }

    /// `--print-config` lines of the evaluation (`ibtpo_eval_config`).
    func fields(maxNew: Int) -> [(String, String)] {
        ConfigFields.eval(count: evalCount, k: k, sampling: sampling(maxNew: maxNew), seed: evalSeed)
    }

    @discardableResult
    func run(_ trainer: Trainer, task: any TrainingTask, maxNew: Int) throws -> EvalResult {
        let r = try trainer.evaluate(task: task, count: evalCount, k: k, sampling: sampling(maxNew: maxNew), seed: evalSeed)
        let whole = r.problems < evalCount ? ", the whole split (--eval-count \(evalCount) asked for more)" : ""
        var line = "eval (\(r.problems) held-out \(task.name) problems\(whole)): greedy \(fmt(r.greedyAccuracy * 100, 1))%"
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
        commandName: "eval", abstract: "Evaluate a checkpoint on a task's held-out split: greedy accuracy, avg@k, pass@k.",
        discussion: "Completions may fill the context: at most --seq − 2 new tokens.")
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @OptionGroup var evalOpts: EvalOptions
    @Option(help: "Checkpoint to evaluate (or give --model with a pretrained model).") var checkpoint: String?
    @Option(help: seqHelp) var seq: Int = 0
    @Flag(help: printConfigHelp) var printConfig = false

    func run() throws {
        try reportingErrors {
            guard seq >= 0 else { throw ValidationError("--seq must be ≥ 0") }
            let model = try opts.checkpointOrPretrainedConfig(checkpoint, context: seq > 0 ? seq : 512)
            var cfg = APIDefaults.trainer
            cfg.model = model
            cfg.batch = 1; cfg.seq = seq > 0 ? min(seq, model.maxSeq) : model.maxSeq; cfg.threads = opts.threads
            if printConfig {
                printFields(ConfigFields.model(cfg.model) + ConfigFields.trainer(cfg) + evalOpts.fields(maxNew: cfg.seq - 2))
                return
            }
            let trainer = try opts.makeTrainer(cfg, checkpoint: checkpoint)
            let task = try taskOpts.load(maxTokens: cfg.seq)
            print("\(checkpoint.map { "checkpoint \($0)" } ?? "model \(opts.model ?? "")"): step \(trainer.step), \(ParamLayout(cfg.model).parameterCount) parameters")
            try evalOpts.run(trainer, task: task, maxNew: cfg.seq - 2)
        }
    }
}

/// Sampling settings of the rollout commands (`sample`, `tree-bench`, `train`), with the C
/// API's defaults (`ibtpo_sampling_config_default`; `train`'s are `ibtpo_rl_config`'s sampling).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = APIDefaults.sampling.temperature
    @Option(help: "Sampling top-k (0 = off).") var topK: Int = APIDefaults.sampling.topK
    @Option(help: "Sampling top-p (1 = off).") var topP: Float = APIDefaults.sampling.topP
    @Option(name: [.customLong("max-new-tokens"), .customLong("max-new")],
            help: "Maximum new tokens per response (at most the context − 2).")
    var maxNewTokens: Int = APIDefaults.sampling.maxNewTokens

    /// The parameters, with the completion capped to fit `maxSeq` after a short prompt.
    func params(maxSeq: Int) -> SamplingParams {
        var s = APIDefaults.sampling
        (s.temperature, s.topK, s.topP) = (temperature, topK, topP)
        s.maxNewTokens = max(1, min(maxNewTokens, maxSeq - 2))
        return s
    }

    var summary: String { "T=\(fmt(Double(temperature), 2)) top-k \(topK) top-p \(fmt(Double(topP), 2))" }
}
