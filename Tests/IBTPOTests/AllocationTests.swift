import CAllocCounter
import Glibc
import XCTest
@testable import IBTPO

final class AllocationTests: XCTestCase {
    /// The training step allocates nothing: an interposed malloc/calloc/realloc/memalign
    /// counts zero calls from any thread across 30 steps after one warm-up step. The model's
    /// arena is the only tensor allocation and happens in `init`.
    func testTrainingStepDoesNotAllocate() throws {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 32)
        c.batch = 8; c.seq = 19; c.threads = 2
        let t = try Trainer(c)
        let task = ReverseTask()
        func step() throws {
            _ = task.fill(tokens: t.model.tokens, targets: t.model.targets, coef: t.model.coef, batch: c.batch,
                          seq: c.seq, rng: &t.rng)
            _ = try t.supervisedStep()
        }
        for _ in 0..<3 { try step() }   // warm-up: lazy runtime and thread start-up work
        // The counter must see allocations at all (guards against a silently inactive hook).
        alloc_counter_start()
        let probe = UnsafeMutablePointer<Float>.allocate(capacity: 1000)
        let seen = alloc_counter_stop()
        probe.deallocate()
        XCTAssertGreaterThanOrEqual(seen, 1)
        // Count the calls made by the trainer's threads (this thread and the pool's workers);
        // other threads of the test process (the test harness) are tallied apart.
        let tids = t.model.pool.workerThreadIDs
        XCTAssertEqual(tids.count, c.threads - 1)
        tids.withUnsafeBufferPointer { alloc_counter_start_threads($0.baseAddress, Int32($0.count)) }
        for _ in 0..<30 { try step() }
        let calls = alloc_counter_stop()
        print("allocation calls during 30 training steps: \(calls) by the trainer's \(tids.count + 1) threads, "
            + "\(alloc_counter_foreign()) by other threads (probe saw \(seen)); arena \(t.model.arena.plan.totalBytes) bytes")
        XCTAssertEqual(calls, 0)
    }

    /// The plan can be asked for before allocating, and the arena is exactly that size.
    func testPlanMatchesArena() throws {
        var c = TrainerConfig()
        c.batch = 4; c.seq = 16
        let plan = try Trainer.plan(c)
        let t = try Trainer(c)
        print("plan \(plan.totalBytes) bytes; arena \(t.model.arena.plan.totalBytes) bytes\n\(plan.summary())")
        XCTAssertEqual(plan.totalBytes, t.model.arena.plan.totalBytes)
        for s in plan.sections { XCTAssertEqual(s.offset % 64, 0, s.name) }
        XCTAssertThrowsError(try Trainer.plan({ var b = c; b.seq = 1000; return b }()))
    }
}
