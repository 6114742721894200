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

    /// With the root not expandable and completions of a single step (a step delimiter the
    /// untrained model never samples), rounds 2...L find no node: the step samples B0 per
    /// prompt, the metrics say so, and `shortfallWarning` names the shortfall and expand_root.
    /// With the root expandable the plan is met and there is no warning.
    func testTrajectoryShortfallIsCountedAndWarned() throws {
        let (t, _) = try sftTrainer(0)
        let task = try MemoryDataset.make(prompts: ["1+2\n", "2+2\n", "3+3\n"], answers: ["3", "4", "6"], solutions: nil,
                                          splits: [.train, .train, .test], maxTokens: 64, stepDelimiter: "\u{1}\u{2}\u{3}")
        for expandRoot in [false, true] {
            var c = rlConfig(.ibtpo)
            c.tree.expandRoot = expandRoot
            c.sampling.maxNewTokens = 6
            let rl = try RLTrainer(trainer: t, task: task, config: c)
            let m = try rl.step()
            let planned = c.promptsPerStep * c.tree.trajectoriesPerPrompt
            let w = c.shortfallWarning(m)
            print("expand_root \(expandRoot): \(m.trajectories) of \(planned) planned trajectories, "
                + "\(m.shape.branchPoints) branch points; warning: \(w ?? "none")")
            if expandRoot {
                XCTAssertEqual(m.trajectories, planned)
                XCTAssertNil(w)
            } else {
                XCTAssertEqual(m.trajectories, c.promptsPerStep * c.tree.initialBranches)
                let text = try XCTUnwrap(w)
                XCTAssertTrue(text.contains("sampled \(m.trajectories) trajectories") && text.contains("\(planned) planned")
                              && text.contains("expand_root = 0"), text)
            }
        }
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

    /// Σ_t log π(τ_t | prompt, τ_<t) of each (prompt, trajectory) row under the trainer's current
    /// parameters, from plain full forward passes (`Trainer.score`: no KV cache, no sampler),
    /// summed in double.
    func sequenceLogProbs(_ t: Trainer, _ rows: [(prompt: [Int32], tokens: [Int32])]) throws -> [Double] {
        let W = rows.map { $0.prompt.count + $0.tokens.count }.max() ?? 1
        var tok = [Int32](repeating: t.tokenizer.pad, count: rows.count * W)
        var len = [Int64](repeating: 1, count: rows.count)
        for (i, r) in rows.enumerated() {
            for (j, x) in (r.prompt + r.tokens).enumerated() { tok[i * W + j] = x }
            len[i] = Int64(r.prompt.count + r.tokens.count)
        }
        var out = [Float](repeating: 0, count: rows.count * W)
        try tok.withUnsafeBufferPointer { tp in
            try len.withUnsafeBufferPointer { lp in
                try out.withUnsafeMutableBufferPointer { op in
                    try t.score(tokens: tp.baseAddress!, lengths: lp.baseAddress!, nSeqs: rows.count, seqLen: W,
                                out: op.baseAddress!)
                }
            }
        }
        // out[i·W + p] = log π(token p + 1 | tokens ≤ p): trajectory token j sits at prompt.count + j.
        return rows.enumerated().map { i, r in
            (0..<r.tokens.count).reduce(0.0) { $0 + Double(out[i * W + r.prompt.count - 1 + $1]) }
        }
    }

    /// What one GRPO step at learning rate `lr` did to its own trajectories, measured from outside.
    struct AscentProbe {
        var s = 0.0            // Σ_i A_i · (log π_after(τ_i) − log π_before(τ_i))
        var noise = 0.0        // a float32 rounding bound of s: 1e-6 · Σ_i |A_i| · (|log π(τ_i)| + 1) × 2
        var firstOrderFloor = 0.0   // N · lr · ‖g‖₂ (the first-order value of s is ≥ this)
        var firstOrderCeiling = 0.0 // N · lr · √P · ‖g‖₂ (… and ≤ this: ‖g‖₁ ≤ √P · ‖g‖₂ for P parameters)
        var trajectories = 0, positive = 0, negative = 0, trainedTokens = 0
        var worstSamplerVsScore = 0.0  // max_i |Σ_t sampler log-prob − score's log π(τ_i)|
        var metrics = RLStepMetrics()
    }

    /// Samples the step's trajectories with the step's own seed (as `RLTrainer.step` does), scores
    /// them, runs the step, scores them again. Checks that the re-sampled trajectories are the
    /// ones the step trained on (count, tokens, mean reward against the step's metrics).
    func ascentProbe(lr: Float) throws -> AscentProbe {
        let (t, task) = try sftTrainer(600)
        t.config.adam.weightDecay = 0           // the update is Adam's direction alone
        var c = rlConfig(.grpo, G: 8, P: 4)     // 32 trajectories ≤ 32 rollout slots
        c.rl.klCoef = 0; c.rl.entropyCoef = 0; c.rl.aggregation = .tokenMean
        c.rl.epochs = 1; c.rl.minibatches = 1
        c.probeEvery = 0; c.alwaysMeasureKL = false
        c.schedule = LRSchedule(lr: lr)         // constant: the first update uses lr
        let rl = try RLTrainer(trainer: t, task: task, config: c)
        rl.rewardFunction = RLTrainerTests.lengthReward

        // The step's rollout, re-sampled: train problems cursor 0..<P, prompts [BOS] + bytes,
        // seed rolloutSeed(0), the GRPO training tree (G single-segment chains).
        let tok = t.tokenizer
        let problems = (0..<c.promptsPerStep).map { task.problem(split: .train, index: $0) }
        let prompts = problems.map { [tok.bos] + tok.encode($0.prompt) }
        let decoder = try XCTUnwrap(t.model.decoder)
        let batch = try TreeSampler.sample(
            decoder: decoder, prompts: prompts, delimiter: tok.encode(task.stepDelimiter), tree: c.trainingTree,
            scoring: c.rl.ibScore, sampling: c.sampling, seed: rl.rolloutSeed(0),
            reward: { p, comp in try RLTrainerTests.lengthReward(problems[p], ByteTokenizer.bytes(comp)) })
        var rows: [(prompt: [Int32], tokens: [Int32])] = [], adv: [Double] = [], samplerLogp: [Double] = []
        var rewardSum = 0.0
        for (p, tree) in batch.trees.enumerated() {
            let trajs = tree.trajectories()
            let a = Advantages.grpo(rewards: trajs.map(\.reward), config: c.rl.advantage)
            for (i, tr) in trajs.enumerated() {
                rows.append((prompts[p], tr.tokens)); adv.append(a[i]); rewardSum += tr.reward
                samplerLogp.append(tr.logps.reduce(0.0) { $0 + Double($1) })
            }
        }
        var r = AscentProbe()
        let before = try sequenceLogProbs(t, rows)
        r.metrics = try rl.step()
        let after = try sequenceLogProbs(t, rows)

        let m = r.metrics
        r.trajectories = rows.count
        r.trainedTokens = rows.reduce(0) { $0 + $1.tokens.count }
        XCTAssertEqual(m.trajectories, r.trajectories, "the re-sampled rollout is not the step's")
        XCTAssertEqual(m.generatedTokens, batch.generatedTokens, "the re-sampled rollout is not the step's")
        XCTAssertEqual(m.trainedTokens, r.trainedTokens, "the re-sampled rollout is not the step's")
        XCTAssertEqual(m.avgRate, rewardSum / Double(rows.count), accuracy: 1e-12, "the re-sampled rollout is not the step's")
        XCTAssertEqual(m.optimizerSteps, 1)
        XCTAssertLessThan(m.maxRatioDeviation, 1e-4, "ρ ≠ 1 at the first epoch: the step's π_old is not the policy")
        for i in 0..<rows.count {
            r.s += adv[i] * (after[i] - before[i])
            r.noise += 2e-6 * abs(adv[i]) * (abs(before[i]) + 1)
            r.worstSamplerVsScore = max(r.worstSamplerVsScore, abs(samplerLogp[i] - before[i]))
            if adv[i] > 0 { r.positive += 1 } else if adv[i] < 0 { r.negative += 1 }
        }
        r.firstOrderFloor = Double(m.trainedTokens) * Double(lr) * Double(m.gradNorm)
        r.firstOrderCeiling = r.firstOrderFloor * Double(t.model.layout.count).squareRoot()
        return r
    }

    /// One GRPO step is an ascent step of its own objective, measured by an independent oracle.
    ///
    /// With 1 epoch × 1 minibatch, β_KL = 0, no entropy bonus, token-mean loss and weight decay 0,
    /// the step's loss at ρ = 1 (the first epoch: nothing is clipped) is
    /// L(θ) = −(1/N) Σ_i A_i log π_θ(τ_i) over its N trained tokens. Adam's first update from zero
    /// moments moves every parameter by −lr·g_j/(|g_j| + ε), g = ∇L (clipping scales g and does
    /// not change that direction), a descent direction of L, so to first order in lr
    ///     S = Σ_i A_i · (log π_after(τ_i) − log π_before(τ_i)) = N·lr·Σ_j g_j²/(|g_j| + ε) ≈ N·lr·‖g‖₁ > 0:
    /// trajectories with positive advantage became more likely relative to those with negative
    /// advantage (Σ_i A_i = 0 in every group, so S ignores a shift common to all τ_i).
    ///
    /// The oracle: log π(τ_i) of the trajectories the step trained on, recomputed with plain full
    /// forward passes (`Trainer.score`) before and after the step and summed in double; the
    /// advantages recomputed with `Advantages.grpo`. The trajectories are re-sampled here with the
    /// step's own seed and checked to be the step's (count, tokens, mean reward of its metrics).
    /// Asserted: S > 0 and ≥ 100 × its float rounding bound; N·lr·‖g‖₂ / 2 ≤ S ≤ 1.5·N·lr·√P·‖g‖₂
    /// (its first-order value lies in [N·lr·‖g‖₂, N·lr·√P·‖g‖₂], since ‖g‖₂ ≤ ‖g‖₁ ≤ √P·‖g‖₂ for P
    /// parameters, ‖g‖₂ being the step's reported pre-clip gradient norm); and S is linear in lr, S(lr)/S(lr/2) = 2 ± 10%,
    /// so that S is the first-order term, not curvature or noise. Everything is seeded, so the
    /// test is deterministic: it cannot flake, only fail if the update stops following the
    /// policy gradient (a sign error, wrong advantages, wrong rows or targets, a stale π_old).
    func testLearningSignal() throws {
        let lr: Float = 1e-4
        let a = try ascentProbe(lr: lr), h = try ascentProbe(lr: lr / 2)
        let ratio = a.s / h.s
        print("GRPO step, lr \(lr): S = Σ A_i Δlog π(τ_i) = \(a.s) over \(a.trajectories) trajectories "
            + "(\(a.positive) with A > 0, \(a.negative) with A < 0, \(a.trainedTokens) tokens); float bound \(a.noise); "
            + "first-order range [N·lr·‖g‖₂, N·lr·√P·‖g‖₂] = [\(a.firstOrderFloor), \(a.firstOrderCeiling)] (‖g‖₂ \(a.metrics.gradNorm)); at lr/2: S = \(h.s), ratio \(ratio); "
            + "sampler vs score log π(τ): worst |diff| \(a.worstSamplerVsScore); reward \(a.metrics.avgRate) eff \(a.metrics.effRate)")
        XCTAssertGreaterThan(a.positive, 0); XCTAssertGreaterThan(a.negative, 0)
        XCTAssertLessThan(a.worstSamplerVsScore, 1e-3, "the scored log π(τ) is not the sampled policy's")
        XCTAssertGreaterThan(a.s, 0, "the step made positive-advantage trajectories less likely")
        XCTAssertGreaterThan(a.s, 100 * a.noise, "S is within float noise")
        XCTAssertGreaterThan(a.s, 0.5 * a.firstOrderFloor, "S is below its first-order lower bound N·lr·‖g‖₂")
        XCTAssertLessThan(a.s, 1.5 * a.firstOrderCeiling, "S is above its first-order upper bound N·lr·√P·‖g‖₂")
        XCTAssertEqual(ratio, 2, accuracy: 0.2, "S is not linear in lr: not the first-order term")
    }
}
