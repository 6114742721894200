import Glibc
import IBTPO

/// One row of the token-efficiency comparison (docs/algorithm.md §4, "What the paper shows").
public struct TreeBenchRow: Sendable {
    public var name: String
    public var trajectories: Int
    public var generatedTokens: Int
    public var trajectoriesPerKTokens: Double
    public var effRate: Double
    public var avgRate: Double
    public var meanIBScore: Double
    public var meanCov: Double
    public var seconds: Double
}

public enum TreeBench {
    /// Samples `prompts` problems of `task` (train split) with independent G = 8 and G = 12
    /// and with (B0, L, K, B) trees under every branching rule, and reports trajectories per
    /// 1,000 generated tokens, Eff-Rate and Avg-Rate for each. The trainer's decoder needs
    /// prompts × 12 slots; prompts are processed in chunks that fit.
    public static func run(trainer: Trainer, task: any TrainingTask, prompts count: Int, tree: (Int, Int, Int, Int),
                           sampling: SamplingParams, seed: UInt64, expandRoot: Bool = true) throws -> [TreeBenchRow] {
        guard let decoder = trainer.model.decoder else { throw IBTPOError(.invalidArgument, "the trainer has no decoder (rollout_slots = 0)") }
        let tok = trainer.tokenizer
        let problems = (0..<count).map { task.problem(split: .train, index: $0) }
        let prompts = problems.map { trainer.promptTokens($0.prompt) }
        let delimiter = tok.encode(task.stepDelimiter)
        var configs: [(String, TreeConfig)] = []
        for g in [8, 12] {
            var c = TreeConfig(); c.initialBranches = g; c.rounds = 1; c.topK = 1; c.branchWidth = 1
            configs.append(("independent G=\(g)", c))
        }
        for rule in [BranchRule.ib, .random, .entropy, .fixed] {
            var c = TreeConfig()
            (c.initialBranches, c.rounds, c.topK, c.branchWidth) = tree
            c.rule = rule
            c.expandRoot = expandRoot
            configs.append(("tree \(rule) (\(tree.0),\(tree.1),\(tree.2),\(tree.3)) G=\(c.trajectoriesPerPrompt)", c))
        }
        var rows: [TreeBenchRow] = []
        let rl = RLConfig()
        for (name, c) in configs {
            let per = max(1, decoder.slots / c.trajectoriesPerPrompt)
            var trees: [RolloutTree] = []
            var generated = 0
            let t0 = monotonicSeconds()
            var start = 0
            while start < prompts.count {
                let chunk = Array(start..<min(prompts.count, start + per))
                let batch = try TreeSampler.sample(decoder: decoder, prompts: chunk.map { prompts[$0] }, delimiter: delimiter,
                                                   tree: c, scoring: rl.ibScore, sampling: sampling, seed: seed &+ UInt64(start)) { p, completion in
                    Double(task.reward(for: problems[chunk[p]], completion: tok.decode(completion)))
                }
                trees += batch.trees
                generated += batch.generatedTokens
                start += chunk.count
            }
            let m = Metrics.trees(trees, config: rl)
            rows.append(TreeBenchRow(name: name, trajectories: m.trajectories, generatedTokens: generated,
                                     trajectoriesPerKTokens: 1000 * Double(m.trajectories) / Double(max(1, generated)),
                                     effRate: m.effRate, avgRate: m.avgRate, meanIBScore: m.meanIBScore, meanCov: m.meanCov,
                                     seconds: monotonicSeconds() - t0))
        }
        return rows
    }
}
