import Glibc
import XCTest
@testable import IBTPO

final class LearningTests: XCTestCase {
    /// A ~0.9M-parameter model learns the synthetic reverse task: the loss falls well below
    /// its start and greedy exact-match accuracy rises above chance.
    func testTinyModelLearnsReverseTask() throws {
        var c = TrainerConfig()
        let task = ReverseTask(minLen: 3, maxLen: 6)
        c.batch = 32; c.seq = task.sequenceLength; c.threads = 2; c.seed = 3
        c.lr = 3e-3; c.minLR = 3e-4; c.warmup = 10; c.totalSteps = 150
        let t = try Trainer(c)
        print("parameters: \(t.model.layout.parameterCount)")
        var first: Float = 0, last: Float = 0
        for s in 0..<c.totalSteps {
            _ = task.fill(tokens: t.model.tokens, targets: t.model.targets, coef: t.model.coef, batch: c.batch,
                          seq: c.seq, rng: &t.rng)
            let st = try t.supervisedStep()
            if s == 0 { first = st.loss }
            if s >= c.totalSteps - 10 { last += st.loss / 10 }
        }
        let acc = t.evaluateReverse(task, batches: 2, seed: 77)
        print("loss: first step \(first), mean of last 10 steps \(last); token accuracy \(acc.token), exact match \(acc.exact)")
        XCTAssertGreaterThan(first, 5.0)      // ≈ ln(259) at initialisation
        XCTAssertLessThan(last, first * 0.3)
        XCTAssertGreaterThan(acc.token, 0.5)  // chance is 1/26
    }
}
