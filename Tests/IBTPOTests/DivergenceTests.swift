import Glibc
import XCTest
@testable import IBTPO

/// Divergence policy: a non-finite loss or gradient skips the optimiser step (parameters,
/// AdamW moments and the optimiser step counter bit-identical), counts it, and returns
/// normally; checkpoints refuse non-finite state.
final class DivergenceTests: XCTestCase {
    func tinyConfig() -> TrainerConfig {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 64)
        c.batch = 4; c.seq = 48; c.threads = 2; c.seed = 9
        c.rolloutSlots = 32
        return c
    }

    /// Bit patterns of the parameters and both AdamW moments.
    func state(_ m: Model) -> [UInt32] {
        let n = m.layout.count
        return [m.params, m.adamM, m.adamV].flatMap { p in (0..<n).map { p[$0].bitPattern } }
    }

    func testSupervisedStepSkipsNonFiniteLoss() throws {
        let t = try Trainer(tinyConfig())
        let task = try builtinTask(name: "add", options: ["digits": 2], seed: 4)
        var b = SFTBatcher(task: task, seed: 1)
        _ = try b.fill(t.model)
        _ = try t.supervisedStep()             // non-zero moments, step 1
        t.model.params[5] = .nan               // poisons every logit of the forward
        let before = state(t.model)
        _ = try b.fill(t.model)
        let st = try t.supervisedStep()        // must not throw
        let after = state(t.model)
        let changed = zip(before, after).filter { $0 != $1 }.count
        print("skipped SFT step: loss \(st.loss), grad norm \(st.gradNorm), \(changed) state words changed")
        XCTAssertEqual(st.skippedSteps, 1)
        XCTAssertFalse(st.loss.isFinite && st.gradNorm.isFinite)
        XCTAssertEqual(changed, 0)
        XCTAssertEqual(t.step, 1)
        XCTAssertEqual(st.step, 1)
        XCTAssertEqual(t.skippedSteps, 1)
        // A healthy step afterwards updates as usual and reports no skip.
        t.model.params[5] = 0.01
        _ = try b.fill(t.model)
        let ok = try t.supervisedStep()
        XCTAssertEqual(ok.skippedSteps, 0)
        XCTAssertTrue(ok.loss.isFinite)
        XCTAssertEqual(t.step, 2)
        XCTAssertEqual(t.skippedSteps, 1)
    }

    /// A NaN reference policy makes the KL term, hence every update's loss, NaN: each of the
    /// 2 × 2 updates is skipped, the RL step still completes and the cursor advances.
    func testRLStepSkipsNonFiniteUpdates() throws {
        let t = try Trainer(tinyConfig())
        let task = try builtinTask(name: "add", options: ["digits": 2], seed: 4)
        var c = RLTrainerConfig()
        c.algo = .grpo; c.groupSize = 4; c.promptsPerStep = 2; c.probeEvery = 0
        c.sampling = SamplingParams(temperature: 1, topK: 0, topP: 1, maxNewTokens: 16)
        c.rl.epochs = 2; c.rl.minibatches = 2; c.rl.klCoef = 0.01
        c.seed = 7
        let rl = try RLTrainer(trainer: t, task: task, config: c)
        rl.rewardFunction = { _, bytes in Double(bytes.count % 2) }
        for i in 0..<t.model.layout.count { rl.refParams[i] = .nan }
        let before = state(t.model), step0 = t.step
        let m = try rl.step()
        let changed = zip(before, state(t.model)).filter { $0 != $1 }.count
        print("RL step with NaN reference: loss \(m.loss), skipped \(m.skippedSteps), applied \(m.optimizerSteps), "
            + "\(changed) state words changed")
        XCTAssertEqual(m.skippedSteps, 4)
        XCTAssertEqual(m.optimizerSteps, 0)
        XCTAssertEqual(changed, 0)
        XCTAssertEqual(t.step, step0)
        XCTAssertEqual(t.skippedSteps, 4)
        XCTAssertEqual(rl.completedSteps, 1)
        XCTAssertEqual(rl.cursor, 2)
    }

    /// Saving refuses non-finite weights and moments and negative second moments, names the
    /// first bad tensor, and writes nothing; a healthy state saves.
    func testCheckpointSaveRefusesNonFiniteState() throws {
        let t = try Trainer(tinyConfig())
        let path = "/tmp/ibtpo-divergence-\(getpid()).ckpt"
        defer { unlink(path) }
        let tensors = t.model.layout.tensors
        let second = tensors[1]
        let cases: [(UnsafeMutablePointer<Float>, Float, String)] = [
            (t.model.params, .nan, second.name), (t.model.adamM, .infinity, "adam.m." + second.name),
            (t.model.adamV, -1, "adam.v." + second.name),
        ]
        for (base, bad, name) in cases {
            let p = base + second.offset + 3
            let old = p.pointee
            p.pointee = bad
            unlink(path)
            XCTAssertThrowsError(try Checkpoint.save(t, path: path)) { e in
                let err = e as? IBTPOError
                print("save refused: \(err?.message ?? "\(e)")")
                XCTAssertEqual(err?.status, .badData)
                XCTAssertTrue(err?.message.contains("tensor \(name) element 3") ?? false, err?.message ?? "")
                XCTAssertTrue(err?.message.contains(path) ?? false)
            }
            XCTAssertNotEqual(access(path, F_OK), 0, "nothing may be written")
            p.pointee = old
        }
        try Checkpoint.save(t, path: path)
        XCTAssertEqual(access(path, F_OK), 0)
    }
}
