import XCTest
@testable import IBTPO

/// A non-finite loss after some optimiser updates of an RL step: the error must say that the
/// step was partially applied (`.partiallyApplied`, "k of n optimiser updates"), not that the
/// data was malformed and parameters not updated. Before any update it stays `.badData`.
final class RLPartialUpdateTests: XCTestCase {
    func setUp(epochs: Int, minibatches: Int) throws -> (Trainer, RLTrainer) {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 64)
        c.batch = 8; c.seq = 48; c.threads = 1; c.seed = 9
        c.rolloutSlots = 32
        let t = try Trainer(c)
        let task = try builtinTask(name: "add", options: ["digits": 1], seed: 4)
        var r = RLTrainerConfig()
        r.algo = .grpo; r.groupSize = 4; r.promptsPerStep = 2
        r.sampling = SamplingParams(temperature: 1, topK: 0, topP: 1, maxNewTokens: 12)
        r.probeEvery = 0
        r.seed = 7
        r.rl.epochs = epochs; r.rl.minibatches = minibatches
        let rl = try RLTrainer(trainer: t, task: task, config: r)
        // Rewards with spread, so that every minibatch has a gradient.
        rl.rewardFunction = { _, bytes in Double(bytes.count % 3) / 2 }
        return (t, rl)
    }

    /// Poisons the parameters (NaN) from the progress callback after update `k`, so the
    /// next minibatch's loss is non-finite.
    func poison(_ t: Trainer, _ rl: RLTrainer, after k: Int) {
        rl.progress = { phase, done, _ in
            if phase == "update" && done == k {
                for i in 0..<t.model.layout.count { t.model.params[i] = .nan }
            }
            return true
        }
    }

    func testNonFiniteAfterUpdatesIsPartiallyApplied() throws {
        let (t, rl) = try setUp(epochs: 4, minibatches: 4)
        poison(t, rl, after: 3)
        XCTAssertThrowsError(try rl.step()) { e in
            guard let e = e as? IBTPOError else { return XCTFail("\(e)") }
            print("status \(e.status), message: \(e.message)")
            XCTAssertEqual(e.status, .partiallyApplied)
            XCTAssertTrue(e.message.contains("3 of 16 optimiser updates"), e.message)
            XCTAssertTrue(e.message.contains("step counter is now 3"), e.message)
            XCTAssertFalse(e.message.contains("not updated"), e.message)
        }
        XCTAssertEqual(t.step, 3)
        XCTAssertEqual(rl.completedSteps, 0)
        XCTAssertEqual(rl.cursor, 0)
    }

    func testNonFiniteBeforeTheFirstUpdateIsBadDataAndNothingApplied() throws {
        let (t, rl) = try setUp(epochs: 2, minibatches: 2)
        rl.progress = { phase, done, _ in
            if phase == "rollout" && done == 1 {
                for i in 0..<t.model.layout.count { t.model.params[i] = .nan }
            }
            return true
        }
        XCTAssertThrowsError(try rl.step()) { e in
            guard let e = e as? IBTPOError else { return XCTFail("\(e)") }
            print("status \(e.status), message: \(e.message)")
            XCTAssertEqual(e.status, .badData)
            XCTAssertTrue(e.message.contains("parameters not updated"), e.message)
        }
        XCTAssertEqual(t.step, 0)
    }
}
