import XCTest
@testable import IBTPO

final class SFTTests: XCTestCase {
    func tinyConfig(threads: Int = 2) -> TrainerConfig {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 96)
        c.batch = 8; c.seq = 64; c.threads = threads; c.seed = 9
        return c
    }

    /// Rows are [BOS] prompt completion [EOS] PAD…, with targets (and loss) exactly on the
    /// completion and EOS — checked against the task's own texts — at a row stride equal to the
    /// batch's longest row.
    func testBatchLayoutMatchesProblemText() throws {
        let task = try builtinTask(name: "add", options: ["digits": 3], seed: 4)
        let t = try Trainer(tinyConfig())
        var batcher = SFTBatcher(task: task, seed: 1)
        let weighted = try batcher.fill(t.model)
        var expectedWeighted = 0, longest = 0
        let T = t.model.pass.seq   // the pass runs at the batch's longest row
        for b in 0..<t.config.batch {
            let p = task.problem(split: .train, index: b)
            let seqTokens: [Int32] = [256] + p.prompt.utf8.map { Int32($0) } + p.solution.utf8.map { Int32($0) } + [257]
            let promptEnd = 1 + p.prompt.utf8.count
            longest = max(longest, seqTokens.count - 1)
            for i in 0..<T {
                let row = b * T + i
                XCTAssertEqual(t.model.tokens[row], i < seqTokens.count ? seqTokens[i] : 258, "row \(b) pos \(i)")
                let wantTarget: Int32 = (i + 1 < seqTokens.count && i + 1 >= promptEnd) ? seqTokens[i + 1] : -1
                XCTAssertEqual(t.model.targets[row], wantTarget, "row \(b) pos \(i)")
                XCTAssertEqual(t.model.coef[row], wantTarget >= 0 ? -1 : 0)
            }
            expectedWeighted += seqTokens.count - promptEnd
        }
        print("batch of \(t.config.batch) rows, \(weighted) completion tokens (expected \(expectedWeighted)), pass seq \(T)")
        XCTAssertEqual(T, longest)
        XCTAssertEqual(t.model.pass.batch, t.config.batch)
        _ = try t.supervisedStep()
        XCTAssertEqual(t.model.pass, t.config.shape, "the step restores the full pass shape")
        XCTAssertEqual(weighted, expectedWeighted)
    }

    /// Same seed → the same SFT losses bit for bit; a problem that does not fit is an error.
    func testSFTIsDeterministicAndRejectsOverlongProblems() throws {
        func run() throws -> [UInt32] {
            let task = try builtinTask(name: "countdown", options: ["numbers": 3], seed: 2)
            let t = try Trainer(tinyConfig())
            var batcher = SFTBatcher(task: task, seed: 3)
            var losses: [UInt32] = []
            for _ in 0..<4 { _ = try batcher.fill(t.model); losses.append(try t.supervisedStep().loss.bitPattern) }
            return losses
        }
        let a = try run(), b = try run()
        print("losses: \(a.map { Float(bitPattern: $0) })")
        XCTAssertEqual(a, b)
        var small = tinyConfig(); small.seq = 16
        let t = try Trainer(small)
        var batcher = SFTBatcher(task: try builtinTask(name: "modchain", seed: 1), seed: 1)
        XCTAssertThrowsError(try batcher.fill(t.model)) { e in
            print("overlong: \(e)")
            XCTAssertEqual((e as? IBTPOError)?.status, .badData)
        }
    }
}
