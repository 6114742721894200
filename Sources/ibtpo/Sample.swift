import ArgumentParser
import IBTPO

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample completions from a checkpoint for a task's problems and print them with their rewards.")
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @Option(help: "Checkpoint to sample from (or give --model with a pretrained model).") var checkpoint: String?
    @Option(help: "Context of a pretrained --model without a checkpoint (prompt + completion tokens).") var context: Int = 512
    @Option(help: "Number of problems.") var count: Int = 4
    @Option(help: "Samples per problem.") var samples: Int = 4
    @Option(help: "Split to draw problems from: train or test.") var split: String = "test"
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "Grow an IBTree with shape B0,L,K,B instead of independent samples, and print it as indented text.")
    var tree: String?
    @Option(name: [.customLong("branch-rule"), .customLong("rule")], help: "Branching rule for --tree: ib, random, entropy or fixed.")
    var branchRule: String = Train.ruleName(APIDefaults.rl.tree.rule)

    func run() throws {
        try reportingErrors {
            guard let sp = Split(rawValue: split) else { throw ValidationError("--split must be train or test") }
            var cfg = APIDefaults.trainer
            cfg.model = try opts.checkpointOrPretrainedConfig(checkpoint, context: context)
            cfg.batch = 1; cfg.seq = 2; cfg.threads = opts.threads
            cfg.rolloutSlots = max(1, min(64, count * samples))
            if let tree {
                let v = tree.split(separator: ",").compactMap { Int($0) }
                guard v.count == 4, v.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--tree expects B0,L,K,B") }
                cfg.rolloutSlots = count * (v[0] + (v[1] - 1) * v[2] * v[3])
            }
            let trainer = try opts.makeTrainer(cfg, checkpoint: checkpoint)
            let task = try taskOpts.load(maxTokens: cfg.model.maxSeq)
            let tok = trainer.tokenizer
            let problems = (0..<count).map { task.problem(split: sp, index: $0) }
            let params = sampling.params(maxSeq: cfg.model.maxSeq)
            if let tree {
                try printTrees(trainer, task: task, problems: problems, shape: tree, params: params)
                return
            }
            let outs = try trainer.sampler().generate(prompts: problems.map { trainer.promptTokens($0.prompt) },
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

    func printTrees(_ trainer: Trainer, task: any TrainingTask, problems: [Problem], shape: String,
                    params: SamplingParams) throws {
        let v = shape.split(separator: ",").compactMap { Int($0) }
        var tc = APIDefaults.rl.tree
        (tc.initialBranches, tc.rounds, tc.topK, tc.branchWidth) = (v[0], v[1], v[2], v[3])
        guard let r = Train.rules.first(where: { $0.name == branchRule }) else {
            throw ValidationError("--branch-rule must be ib, random, entropy or fixed")
        }
        tc.rule = r.rule
        guard let decoder = trainer.model.decoder else { throw ValidationError("no decoder") }
        let tok = trainer.tokenizer
        let rl = APIDefaults.rl.rl
        let batch = try TreeSampler.sample(decoder: decoder, prompts: problems.map { trainer.promptTokens($0.prompt) },
                                           delimiter: tok.encode(task.stepDelimiter), tree: tc, scoring: rl.ibScore, sampling: params,
                                           seed: opts.seed) { p, c in Double(task.reward(for: problems[p], completion: tok.decode(c))) }
        for (p, t) in batch.trees.enumerated() {
            let scores = Dictionary(IBScore.scores(t, config: rl.ibScore, minChildren: 1).map { ($0.node, $0.score) }, uniquingKeysWith: { a, _ in a })
            print("=== problem \(p): \(problems[p].prompt.split(separator: "\n").joined(separator: " / "))  "
                + "[\(t.leaves.count) trajectories, \(t.generatedTokens) generated tokens, p̂(root) \(fmt(t[0].pHat, 2))]")
            func show(_ id: Int) {
                let n = t[id]
                if id != 0 {
                    let text = tok.decode(n.tokens).replacingNewlines()
                    var line = String(repeating: "  ", count: n.depth - 1) + "- \"\(text)\"  p̂ \(fmt(n.pHat, 2)) π̄ \(fmt(n.piBar, 2))"
                    if let s = scores[id] { line += " IB \(fmt(s, 3))" }
                    if n.isLeaf { line += "  → reward \(fmt(n.reward, 1))" }
                    print(line)
                }
                for c in n.children { show(c) }
            }
            show(0)
        }
        print("generated tokens \(batch.generatedTokens), trajectories \(batch.trees.reduce(0) { $0 + $1.leaves.count })")
    }
}

extension String {
    func replacingNewlines() -> String { split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "⏎") }
}
