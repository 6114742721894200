import XCTest
@testable import IBTPO

final class RLTrainerTests: XCTestCase {
    func tinyConfig() -> TrainerConfig {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 64)
        c.batch = 8; c.seq = 48; c.threads = 2; c.seed = 9
        c.rolloutSlots = 32
        return c
    }

    nonisolated(unsafe) static var sftParams: [Int: [Float]] = [:]

    /// A tiny trainer after `sft` SFT steps (lr 3e-3) on add digits=2 (cached per step count).
    func sftTrainer(_ sft: Int) throws -> (Trainer, any TrainingTask) {
        let task = try builtinTask(name: "add", options: ["digits": 2], seed: 4)
        var cfg = tinyConfig()
        cfg.lr = 3e-3; cfg.minLR = 3e-4; cfg.warmup = 20; cfg.totalSteps = sft
        let t = try Trainer(cfg)
        if let p = RLTrainerTests.sftParams[sft] {
            for i in 0..<p.count { t.model.params[i] = p[i] }
        } else {
            var b = SFTBatcher(task: task, seed: 1)
            for _ in 0..<sft { _ = try b.fill(t.model); _ = try t.supervisedStep() }
            RLTrainerTests.sftParams[sft] = params(t.model)
        }
        return (t, task)
    }

    func rlConfig(_ algo: RLAlgorithm, G: Int = 4, P: Int = 2) -> RLTrainerConfig {
        var c = RLTrainerConfig()
        c.algo = algo; c.groupSize = G; c.promptsPerStep = P
        c.tree.initialBranches = 2; c.tree.rounds = 3   // G = 4
        c.sampling = SamplingParams(temperature: 1, topK: 0, topP: 1, maxNewTokens: 40)
        c.probeTree = c.tree; c.probePrompts = 1
        c.seed = 7
        c.schedule = LRSchedule(lr: 2e-4)
        return c
    }

    /// A deterministic reward with spread (the SFT'd model is nearly always right on add):
    /// (number of '1' and '3' characters mod 3) / 2.
    static let lengthReward: (Problem, [UInt8]) throws -> Double = { _, bytes in
        Double(bytes.filter { $0 == 49 || $0 == 51 }.count % 3) / 2
    }

    func params(_ m: Model) -> [Float] { Array(UnsafeBufferPointer(start: m.params, count: m.layout.count)) }
    func moments(_ m: Model) -> [Float] {
        Array(UnsafeBufferPointer(start: m.adamM, count: m.layout.count)) + Array(UnsafeBufferPointer(start: m.adamV, count: m.layout.count))
    }

    /// IB-TPO on trees of single chains (B0 = G, L = 1) with λ = 0 is GRPO on the same samples.
    /// Same seed, same sampler, same trajectory order, so the parameters must be bit-identical.
    func testIBTPOOnChainsWithZeroLambdaEqualsGRPO() throws {
        func run(_ algo: RLAlgorithm) throws -> ([Float], RLStepMetrics) {
            let (t, task) = try sftTrainer(600)   // less sure of itself: samples differ within a group
            var c = rlConfig(algo, P: 4)
            c.rl.lambda = 0
            c.tree.initialBranches = 4; c.tree.rounds = 1
            c.probeEvery = 0
            let rl = try RLTrainer(trainer: t, task: task, config: c)
            rl.rewardFunction = RLTrainerTests.lengthReward   // varied rewards → non-zero advantages
            let m = try rl.step()
            return (params(t.model), m)
        }
        let (pg, mg) = try run(.grpo), (pi, mi) = try run(.ibtpo)
        var diff = 0, maxAbs: Float = 0
        for i in 0..<pg.count where pg[i].bitPattern != pi[i].bitPattern { diff += 1; maxAbs = max(maxAbs, abs(pg[i] - pi[i])) }
        print("grpo reward \(mg.avgRate) loss \(mg.loss) | ibtpo reward \(mi.avgRate) loss \(mi.loss); "
            + "\(diff) of \(pg.count) parameters differ (max |Δ| \(maxAbs))")
        XCTAssertGreaterThan(mg.effRate, 0, "no reward spread: the test would be trivial")
        XCTAssertNotEqual(mg.loss, 0)
        XCTAssertEqual(mg.loss, mi.loss)
        XCTAssertEqual(diff, 0)
    }

    /// ρ = exp(logp_new − logp_old) is 1 at the first epoch: the trainer's forward agrees with
    /// the sampler's recorded log-probs.
    func testFirstEpochRatioIsOne() throws {
        let (t, task) = try sftTrainer(1500)
        for algo in RLAlgorithm.allCases {
            let rl = try RLTrainer(trainer: t, task: task, config: rlConfig(algo))
            let m = try rl.step()
            print("\(algo): max |ρ − 1| = \(m.maxRatioDeviation) over \(m.trainedTokens) tokens; KL \(m.kl), "
                + "clip low/high \(m.clipFracLow)/\(m.clipFracHigh)")
            XCTAssertGreaterThan(m.trainedTokens, 0)
            XCTAssertLessThan(m.maxRatioDeviation, 1e-4)
            XCTAssertEqual(m.clipFracLow, 0); XCTAssertEqual(m.clipFracHigh, 0)
            XCTAssertLessThan(abs(m.kl), 1e-8)
        }
    }

    /// A reward callback that throws mid-rollout leaves parameters, moments and steps unchanged.
    func testFailedRewardLeavesStateUnchanged() throws {
        let (t, task) = try sftTrainer(1500)
        let rl = try RLTrainer(trainer: t, task: task, config: rlConfig(.ibtpo))
        _ = try rl.step()   // non-trivial moments
        let p0 = params(t.model), m0 = moments(t.model), s0 = t.step, r0 = rl.completedSteps, c0 = rl.cursor
        var calls = 0
        rl.rewardFunction = { _, _ in
            calls += 1
            if calls == 5 { throw IBTPOError(.callbackFailed, "verifier crashed") }
            return 0.5
        }
        XCTAssertThrowsError(try rl.step()) { print("step failed as expected: \($0)") }
        XCTAssertEqual(params(t.model), p0)
        XCTAssertEqual(moments(t.model), m0)
        XCTAssertEqual(t.step, s0); XCTAssertEqual(rl.completedSteps, r0); XCTAssertEqual(rl.cursor, c0)
        // Out-of-range reward too.
        rl.rewardFunction = { _, _ in 2 }
        XCTAssertThrowsError(try rl.step())
        XCTAssertEqual(params(t.model), p0)
        print("after failures: step \(t.step), rl step \(rl.completedSteps), params unchanged")
    }

    /// Same seed → the same metrics and parameters after 2 RL steps.
    func testDeterminism() throws {
        func run() throws -> ([Float], [RLStepMetrics]) {
            let (t, task) = try sftTrainer(1500)
            let rl = try RLTrainer(trainer: t, task: task, config: rlConfig(.ibtpo))
            rl.rewardFunction = RLTrainerTests.lengthReward
            var ms: [RLStepMetrics] = []
            for _ in 0..<2 {
                var m = try rl.step()
                m.samplingSeconds = 0; m.updateSeconds = 0; m.probeSeconds = 0
                ms.append(m)
            }
            return (params(t.model), ms)
        }
        let (a, ma) = try run(), (b, mb) = try run()
        print("rewards \(ma.map(\.avgRate)), losses \(ma.map(\.loss)), IB \(ma.map(\.meanIBScore))")
        XCTAssertEqual(ma, mb)
        XCTAssertTrue(a == b)
    }

    /// 3 RL steps straight = 1 step, checkpoint, a fresh trainer from the start policy that
    /// loads the checkpoint and resumes, then 2 steps: bit-identical parameters and metrics.
    func testCheckpointResumeIsExact() throws {
        var cfg = rlConfig(.ibtpo)
        cfg.rl.minibatches = 2
        let (a, task) = try sftTrainer(1500)
        let straight = try RLTrainer(trainer: a, task: task, config: cfg)
        straight.rewardFunction = RLTrainerTests.lengthReward
        var ms: [RLStepMetrics] = []
        for _ in 0..<3 { var m = try straight.step(); m.samplingSeconds = 0; m.updateSeconds = 0; m.probeSeconds = 0; ms.append(m) }

        let (b, _) = try sftTrainer(1500)
        let first = try RLTrainer(trainer: b, task: task, config: cfg)
        first.rewardFunction = RLTrainerTests.lengthReward
        _ = try first.step()
        let path = "/tmp/ibtpo-test-\(getpid())-rl-resume.ckpt"
        defer { unlink(path) }
        try Checkpoint.save(b, path: path)

        let (c, _) = try sftTrainer(1500)
        let resumed = try RLTrainer(trainer: c, task: task, config: cfg)
        resumed.rewardFunction = RLTrainerTests.lengthReward
        try Checkpoint.load(c, path: path)
        try resumed.resume(completedSteps: c.step / (cfg.rl.epochs * cfg.rl.minibatches))
        var rs: [RLStepMetrics] = []
        for _ in 0..<2 { var m = try resumed.step(); m.samplingSeconds = 0; m.updateSeconds = 0; m.probeSeconds = 0; rs.append(m) }
        print("straight rewards \(ms.map(\.avgRate)), resumed \(rs.map(\.avgRate)); steps \(a.step) vs \(c.step)")
        XCTAssertEqual(Array(ms[1...]), rs)
        XCTAssertEqual(a.step, c.step)
        XCTAssertTrue(params(a.model) == params(c.model), "parameters after resume differ")
        XCTAssertThrowsError(try resumed.resume(completedSteps: -1))
    }

    /// SFT'd tiny model on add digits=2, then 10 GRPO steps: rewards stay up, parameters move,
    /// everything finite, KL to the reference small.
    func testLearningSignal() throws {
        let (t, task) = try sftTrainer(1500)
        let before = try t.evaluate(task: task, count: 32, k: 4,
                                    sampling: SamplingParams(temperature: 1, maxNewTokens: 40), seed: 3)
        var c = rlConfig(.grpo, G: 8, P: 4)
        c.probeEvery = 5; c.probePrompts = 2
        let rl = try RLTrainer(trainer: t, task: task, config: c)
        let p0 = params(t.model)
        var ms: [RLStepMetrics] = []
        for _ in 0..<10 { ms.append(try rl.step()) }
        let after = try t.evaluate(task: task, count: 32, k: 4,
                                   sampling: SamplingParams(temperature: 1, maxNewTokens: 40), seed: 3)
        let p1 = params(t.model)
        var d2 = 0.0
        for i in 0..<p0.count { d2 += Double(p1[i] - p0[i]) * Double(p1[i] - p0[i]) }
        for m in ms {
            print("step \(m.step): reward \(m.avgRate) eff \(m.effRate) entropy \(m.entropy) KL \(m.kl) "
                + "grad \(m.gradNorm) loss \(m.loss) IB \(m.ibMeasured ? "\(m.meanIBScore)" : "-") cov \(m.meanCov)")
            XCTAssertTrue(m.loss.isFinite && m.gradNorm.isFinite && m.kl.isFinite && m.entropy.isFinite)
        }
        print("eval before: greedy \(before.greedyAccuracy) avg@4 \(before.avgAtK); after: greedy \(after.greedyAccuracy) "
            + "avg@4 \(after.avgAtK); |Δθ| = \(d2.squareRoot())")
        XCTAssertGreaterThan(d2, 0)
        XCTAssertLessThan(ms.last!.kl, 0.5)
        let first = ms.prefix(3).map(\.avgRate).reduce(0, +) / 3, last = ms.suffix(3).map(\.avgRate).reduce(0, +) / 3
        XCTAssertGreaterThan(last, first * 0.5 - 0.05, "mean reward collapsed")
    }
}
