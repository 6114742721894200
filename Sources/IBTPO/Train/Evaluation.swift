/// Held-out evaluation results.
public struct EvalResult: Sendable {
    public var problems = 0
    /// Mean reward of greedy completions (= accuracy for 0/1 rewards).
    public var greedyAccuracy = 0.0
    /// Mean completion length in tokens (EOS excluded).
    public var meanLength = 0.0
    /// Fraction of completions cut by the length cap.
    public var truncatedFraction = 0.0
}

extension Trainer {
    /// Greedy accuracy on the first `count` problems of `split` (default: test), using the
    /// reference decoder. Deterministic: no randomness is involved.
    public func evaluateGreedy(task: any TrainingTask, split: Split = .test, count: Int, maxNew: Int) throws -> EvalResult {
        let problems = (0..<count).map { task.problem(split: split, index: $0) }
        let prompts = problems.map { tokenizer.encode($0.prompt) }
        let outs = try referenceGreedy(prompts: prompts, maxNew: maxNew)
        var r = EvalResult()
        r.problems = count
        var reward = 0.0, length = 0.0, truncated = 0.0
        for (p, o) in zip(problems, outs) {
            reward += Double(task.reward(for: p, completion: tokenizer.decode(o.tokens)))
            length += Double(o.tokens.count)
            truncated += o.truncated ? 1 : 0
        }
        let n = Double(max(1, count))
        r.greedyAccuracy = reward / n; r.meanLength = length / n; r.truncatedFraction = truncated / n
        return r
    }
}
