/// Held-out evaluation results.
public struct EvalResult: Sendable {
    public var problems = 0
    /// Mean reward of greedy completions (= accuracy for 0/1 rewards).
    public var greedyAccuracy = 0.0
    /// Samples per problem for avg@k / pass@k (0 when not measured).
    public var k = 0
    /// Mean reward over all k samples of all problems.
    public var avgAtK = 0.0
    /// Fraction of problems with at least one sample of reward 1.
    public var passAtK = 0.0
    /// Mean completion length in tokens (EOS excluded), over greedy and sampled completions.
    public var meanLength = 0.0
    /// Fraction of completions cut by the length cap.
    public var truncatedFraction = 0.0
    public var seconds = 0.0
}

extension Trainer {
    /// The trainer's KV-cached sampler (requires `config.rolloutSlots > 0`).
    public func sampler() throws -> RolloutSampler {
        if let s = rolloutSampler { return s }
        let s = try RolloutSampler(model: model)
        rolloutSampler = s
        return s
    }

    /// Evaluates the first `count` problems of `split`, each once (all of them when the split
    /// has fewer; `EvalResult.problems` says how many): greedy accuracy, and when k > 0,
    /// avg@k and pass@k with `sampling` (temperature, top-k, top-p). Prompts are encoded as
    /// prompt (`promptTokens`: [BOS] prompt for the built-in models); completions end at EOS or `sampling.maxNewTokens`. Randomness comes
    /// only from `seed` (the trainer's RNG is untouched), so results are reproducible.
    /// Parameters and optimiser state are not modified. `reward` (problem, completion bytes
    /// with special tokens removed) replaces the task's verifier when given; its errors propagate. `progress(done, total)`
    /// is called after the greedy pass (1 of 2) and the sampled pass (2 of 2); false stops
    /// with `.aborted`.
    public func evaluate(task: any TrainingTask, split: Split = .test, count: Int, k: Int,
                         sampling: SamplingParams, seed: UInt64,
                         reward: ((Problem, [UInt8]) throws -> Double)? = nil,
                         progress: ((Int, Int) -> Bool)? = nil) throws -> EvalResult {
        func judge(_ p: Problem, _ tokens: [Int32]) throws -> Double {
            if let reward { return try reward(p, tokenizer.bytes(tokens)) }
            return Double(task.reward(for: p, completion: tokenizer.decode(tokens)))
        }
        func report(_ done: Int) throws {
            if let progress, !progress(done, 2) { throw IBTPOError(.aborted, "evaluation stopped by the progress callback") }
        }
        guard count >= 1 && count <= 1 << 20 else { throw invalid("evaluation count must be in 1...1048576 (got \(count))") }
        guard k >= 0 && k <= 1024 else { throw invalid("k must be in 0...1024 (got \(k))") }
        let t0 = monotonicSeconds()
        let s = try sampler()
        let count = min(count, task.problemCount(split: split) ?? count)   // a problem counts once
        let problems = (0..<count).map { task.problem(split: split, index: $0) }
        let prompts = problems.map { promptTokens($0.prompt) }
        var greedyParams = sampling
        greedyParams.temperature = 0
        var r = EvalResult()
        r.problems = count
        var lengths = 0.0, truncated = 0.0, completions = 0.0
        let greedy = try s.generate(prompts: prompts, samplesPerPrompt: 1, params: greedyParams, seed: seed)
        var correct = 0.0
        for (i, o) in greedy.enumerated() {
            correct += try judge(problems[i], o.tokens)
            lengths += Double(o.tokens.count - (o.finish == .eos ? 1 : 0)); truncated += o.finish == .length ? 1 : 0; completions += 1
        }
        r.greedyAccuracy = correct / Double(count)
        try report(1)
        if k > 0 {
            let sampled = try s.generate(prompts: prompts, samplesPerPrompt: k, params: sampling, seed: seed &+ 1)
            var sum = 0.0, pass = 0.0
            for p in 0..<count {
                var any = false
                for g in 0..<k {
                    let o = sampled[p * k + g]
                    let rew = try judge(problems[p], o.tokens)
                    sum += rew
                    if rew >= 1 { any = true }
                    lengths += Double(o.tokens.count - (o.finish == .eos ? 1 : 0)); truncated += o.finish == .length ? 1 : 0; completions += 1
                }
                if any { pass += 1 }
            }
            r.k = k
            r.avgAtK = sum / Double(count * k)
            r.passAtK = pass / Double(count)
        }
        _ = progress?(2, 2)   // the final report (done == total) cannot abort: the work is done
        r.meanLength = lengths / completions
        r.truncatedFraction = truncated / completions
        r.seconds = monotonicSeconds() - t0
        return r
    }
}
