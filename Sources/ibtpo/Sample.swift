import ArgumentParser
import IBTPO

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample completions from a checkpoint for a task's problems and print them with their rewards.")
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @Option(help: "Checkpoint to sample from.") var checkpoint: String
    @Option(help: "Number of problems.") var count: Int = 4
    @Option(help: "Samples per problem.") var samples: Int = 4
    @Option(help: "Split to draw problems from: train or test.") var split: String = "test"
    @Option(help: "Temperature (0 = greedy).") var temperature: Float = 0.7
    @Option(help: "Top-k (0 = off).") var topK: Int = 20
    @Option(help: "Top-p (1 = off).") var topP: Float = 0.95
    @Option(help: "Maximum new tokens.") var maxNew: Int = 94

    func run() throws {
        try reportingErrors {
            guard let sp = Split(rawValue: split) else { throw ValidationError("--split must be train or test") }
            let header = try Checkpoint.readHeader(path: checkpoint)
            var cfg = TrainerConfig()
            cfg.model = header.config
            cfg.batch = 1; cfg.seq = 2; cfg.threads = opts.threads
            cfg.rolloutSlots = max(1, min(64, count * samples))
            let trainer = try Trainer(cfg)
            try Checkpoint.load(trainer, path: checkpoint)
            let task = try taskOpts.load(maxTokens: cfg.model.maxSeq)
            let tok = trainer.tokenizer
            let problems = (0..<count).map { task.problem(split: sp, index: $0) }
            let params = SamplingParams(temperature: temperature, topK: topK, topP: topP,
                                        maxNewTokens: min(maxNew, cfg.model.maxSeq - 2))
            let outs = try trainer.sampler().generate(prompts: problems.map { [tok.bos] + tok.encode($0.prompt) },
                                                      samplesPerPrompt: samples, params: params, seed: opts.seed)
            for (p, problem) in problems.enumerated() {
                print("=== problem \(p) (\(split)): \(problem.prompt.split(separator: "\n").joined(separator: " / "))")
                for g in 0..<samples {
                    let o = outs[p * samples + g]
                    let text = tok.decode(o.tokens)
                    let r = task.reward(for: problem, completion: text)
                    let meanLogp = o.logp.isEmpty ? 0 : o.logp.reduce(0, +) / Float(o.logp.count)
                    print("--- sample \(g): reward \(fmt(Double(r), 2)), \(o.tokens.count) tokens, \(o.finish), "
                        + "mean logp \(fmt(Double(meanLogp), 3))")
                    print(text)
                }
            }
        }
    }
}
