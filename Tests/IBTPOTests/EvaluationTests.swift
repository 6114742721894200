import XCTest
@testable import IBTPO

final class EvaluationTests: XCTestCase {
    /// A briefly trained model whose greedy completions are not trivial.
    func trainedTrainer() throws -> (Trainer, any TrainingTask) {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 64, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 128, maxSeq: 64)
        c.batch = 16; c.seq = 56; c.threads = 2; c.seed = 5; c.rolloutSlots = 16
        c.lr = 5e-3; c.warmup = 10; c.totalSteps = 250
        let t = try Trainer(c)
        let task = try builtinTask(name: "add", options: ["digits": 2], seed: 3)
        var batcher = SFTBatcher(task: task, seed: 1)
        for _ in 0..<250 { _ = try batcher.fill(t.model); _ = try t.supervisedStep() }
        return (t, task)
    }

    /// Greedy decoding through the KV-cached sampler produces exactly the tokens of the
    /// reference decoder (full forward passes, no cache) — two independent code paths.
    func testKVCachedGreedyEqualsReferenceGreedy() throws {
        let (t, task) = try trainedTrainer()
        let problems = (0..<20).map { task.problem(split: .test, index: $0) }
        let prompts = problems.map { t.tokenizer.encode($0.prompt) }
        let ref = try t.referenceGreedy(prompts: prompts, maxNew: 40)
        let fast = try t.sampler().generate(prompts: prompts.map { [t.tokenizer.bos] + $0 }, samplesPerPrompt: 1,
                                            params: SamplingParams(temperature: 0, maxNewTokens: 40), seed: 1)
        var same = 0
        for i in 0..<prompts.count {
            // Rollouts keep the EOS they sampled (its log-prob is part of the trajectory).
            let fastTokens = fast[i].finish == .eos ? Array(fast[i].tokens.dropLast()) : fast[i].tokens
            XCTAssertEqual(fastTokens, ref[i].tokens, "problem \(i)")
            XCTAssertEqual(fast[i].finish == .length, ref[i].truncated, "problem \(i)")
            if fastTokens == ref[i].tokens { same += 1 }
        }
        print("greedy completions identical for \(same)/\(prompts.count) problems; example: "
            + "\(problems[0].prompt.split(separator: "\n")[0]) → \(t.tokenizer.decode(fast[0].tokens).split(separator: "\n").joined(separator: " / "))")
    }

    /// A count larger than a finite test split evaluates each problem once: the result equals
    /// an evaluation of exactly the split, and `problems` says how many there were.
    func testCountBeyondTheSplitCountsEachProblemOnce() throws {
        let (t, add) = try trainedTrainer()
        var source: [Problem] = [], seen = Set<String>()   // 12 distinct problems the model has learnt to solve
        for i in 0..<200 where source.count < 12 {
            let p = add.problem(split: .test, index: i)
            if seen.insert(p.prompt).inserted { source.append(p) }
        }
        let prompts = source.map(\.prompt), answers = source.map(\.answer)
        let splits: [Split] = (0..<12).map { $0 < 4 ? .train : .test }
        let task = try MemoryDataset.make(prompts: prompts, answers: answers, solutions: nil, splits: splits, maxTokens: 64)
        let n = try XCTUnwrap(task.problemCount(split: .test))
        let params = SamplingParams(temperature: 1, maxNewTokens: 24)
        // A reward with spread (1 when the completion's count of '1' characters is not a
        // multiple of 3), so equal results are not equal by being all zero.
        let reward: (Problem, [UInt8]) throws -> Double = { _, b in Double(min(1, b.filter { $0 == 49 }.count % 3)) }
        let all = try t.evaluate(task: task, count: 1000, k: 4, sampling: params, seed: 3, reward: reward)
        let exact = try t.evaluate(task: task, count: n, k: 4, sampling: params, seed: 3, reward: reward)
        print("count 1000 on a \(n)-problem split: \(all.problems) problems, greedy \(all.greedyAccuracy), "
            + "avg@4 \(all.avgAtK), pass@4 \(all.passAtK) (count \(n): \(exact.greedyAccuracy), \(exact.avgAtK), \(exact.passAtK))")
        XCTAssertEqual(n, 8)
        XCTAssertGreaterThan(exact.greedyAccuracy + exact.avgAtK, 0, "all-zero rewards would make the comparison trivial")
        XCTAssertEqual(all.problems, n)
        XCTAssertEqual(all.greedyAccuracy, exact.greedyAccuracy)
        XCTAssertEqual(all.avgAtK, exact.avgAtK)
        XCTAssertEqual(all.passAtK, exact.passAtK)
        XCTAssertEqual(all.meanLength, exact.meanLength)
    }

    /// Evaluation is reproducible and its metrics are consistent with each other.
    func testEvaluationIsDeterministicAndConsistent() throws {
        let (t, task) = try trainedTrainer()
        let p = SamplingParams(temperature: 0.7, topK: 20, topP: 0.95, maxNewTokens: 40)
        let a = try t.evaluate(task: task, count: 24, k: 4, sampling: p, seed: 9)
        let b = try t.evaluate(task: task, count: 24, k: 4, sampling: p, seed: 9)
        print("greedy \(a.greedyAccuracy), avg@4 \(a.avgAtK), pass@4 \(a.passAtK), mean length \(a.meanLength), truncated \(a.truncatedFraction)")
        XCTAssertEqual(a.greedyAccuracy, b.greedyAccuracy)
        XCTAssertEqual(a.avgAtK, b.avgAtK)
        XCTAssertEqual(a.passAtK, b.passAtK)
        XCTAssertEqual(a.meanLength, b.meanLength)
        XCTAssertGreaterThanOrEqual(a.passAtK, a.avgAtK - 1e-12)   // pass@k ≥ avg@k for 0/1 rewards
        XCTAssertThrowsError(try t.evaluate(task: task, count: 0, k: 4, sampling: p, seed: 9))
    }
}
