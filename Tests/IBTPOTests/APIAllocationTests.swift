import CAllocCounter
import CIBTPO
import Glibc
import XCTest
@testable import IBTPO

/// Allocation counts of the C API's training, sampling and evaluation calls, measured with the
/// interposed malloc (Tests/CAllocCounter) on the trainer's own threads after warm-up calls.
/// The counts are what include/ibtpo.h promises: 0 for step_sft, and the documented bounds
/// for the calls that still build Swift arrays per call (step_rl, generate, evaluate).
final class APIAllocationTests: XCTestCase {
    /// A small trainer (2 threads, 32 rollout slots) and a 200-problem in-memory task
    /// (every 5th problem in the test split) whose prompts, answers and solutions are short.
    func makeTrainerAndTask() throws -> (OpaquePointer, OpaquePointer) {
        var cfg = ibtpo_trainer_config()
        XCTAssertEqual(ibtpo_trainer_config_default(&cfg), 0)
        cfg.model.d_model = 32; cfg.model.n_layers = 2; cfg.model.n_heads = 4; cfg.model.n_kv_heads = 2
        cfg.model.d_ff = 48; cfg.model.max_seq = 64
        cfg.batch = 4; cfg.seq = 48; cfg.threads = 2; cfg.rollout_slots = 32
        var t: OpaquePointer?
        XCTAssertEqual(ibtpo_trainer_create(&cfg, &t), 0, String(cString: ibtpo_last_error(nil)))
        let n = 200
        let prompts = (0..<n).map { strdup("\($0 % 50)+\($0 / 50)=") }
        let answers = (0..<n).map { strdup("\($0 % 50 + $0 / 50)") }
        let solutions = (0..<n).map { strdup("answer: \($0 % 50 + $0 / 50)") }
        defer { for p in prompts + answers + solutions { free(p) } }
        let splits = (0..<n).map { Int32($0 % 5 == 4 ? IBTPO_SPLIT_TEST : IBTPO_SPLIT_TRAIN) }
        var task: OpaquePointer?
        let rc = prompts.map { UnsafePointer($0) }.withUnsafeBufferPointer { p in
            answers.map { UnsafePointer($0) }.withUnsafeBufferPointer { a in
                solutions.map { UnsafePointer($0) }.withUnsafeBufferPointer { s in
                    ibtpo_task_create_memory(p.baseAddress, a.baseAddress, s.baseAddress, splits, Int64(n), &task)
                }
            }
        }
        XCTAssertEqual(rc, 0, String(cString: ibtpo_last_error(nil)))
        return (try XCTUnwrap(t), try XCTUnwrap(task))
    }

    /// Allocation calls made by `trainer`'s threads (this one and its pool's workers) in `body`.
    func count(_ trainer: OpaquePointer, _ body: () -> Void) -> UInt64 {
        let tids = TrainerHandle.from(trainer)!.trainer.model.pool.workerThreadIDs
        tids.withUnsafeBufferPointer { alloc_counter_start_threads($0.baseAddress, Int32($0.count)) }
        body()
        return alloc_counter_stop()
    }

    /// ibtpo_trainer_step_sft allocates nothing per step once warm (no epoch change of the
    /// 160-problem train split happens in the 33 steps × 4 problems).
    func testStepSFTDoesNotAllocate() throws {
        let (t, task) = try makeTrainerAndTask()
        defer { ibtpo_trainer_free(t); ibtpo_task_free(task) }
        var st = ibtpo_step_stats(); st.struct_size = UInt32(MemoryLayout<ibtpo_step_stats>.size)
        for _ in 0..<3 { XCTAssertEqual(ibtpo_trainer_step_sft(t, task, &st), 0, String(cString: ibtpo_last_error(t))) }
        // BLIS's packed path takes its pack buffers from a pool that grows (mallocs) the first
        // time more threads need one at once than before; on a loaded machine that can happen
        // after the warm-up (seen on Zen 5, where BLIS has no sup kernels and every product is
        // packed). Growth is one-time, a per-step allocation would show in every window: so
        // up to three windows of 10 steps, and one must be allocation-free.
        var rc: [ibtpo_status] = []
        rc.reserveCapacity(30)
        var windows: [UInt64] = []
        for _ in 0..<3 {
            windows.append(count(t) { for _ in 0..<10 { rc.append(ibtpo_trainer_step_sft(t, task, &st)) } })
            if windows.last == 0 { break }
        }
        print("allocation calls during windows of 10 ibtpo_trainer_step_sft calls: \(windows) (loss \(st.loss))")
        XCTAssertEqual(rc, [ibtpo_status](repeating: 0, count: rc.count))
        XCTAssertEqual(st.step, Int64(3 + rc.count))
        XCTAssertEqual(windows.last, 0)
    }

    /// Sampling config for the counting tests: 16 new tokens, no EOS stop (every completion
    /// has the same length, so counts do not depend on what is sampled).
    func sampling() -> ibtpo_sampling_config {
        var s = ibtpo_sampling_config()
        XCTAssertEqual(ibtpo_sampling_config_default(&s), 0)
        s.max_new_tokens = 16; s.stop_at_eos = 0
        return s
    }

    /// ibtpo_trainer_generate allocates a bounded number of small arrays per call (the copied
    /// prompt, the sampler's per-sequence token and log-prob lists, the results), independent
    /// of the model size: measured at n = 4 and n = 16.
    func testGenerateAllocationCount() throws {
        let (t, task) = try makeTrainerAndTask()
        defer { ibtpo_trainer_free(t); ibtpo_task_free(task) }
        var s = sampling()
        let prompt: [Int32] = [256, 49, 43, 50, 61]
        var toks = [Int32](repeating: 0, count: 16 * 16), lens = [Int64](repeating: 0, count: 16)
        var logps = [Float](repeating: 0, count: 16 * 16)
        func generate(_ n: Int64) -> ibtpo_status {
            ibtpo_trainer_generate(t, prompt, Int64(prompt.count), n, &s, 5, &toks, &lens, &logps)
        }
        for _ in 0..<2 { XCTAssertEqual(generate(16), 0, String(cString: ibtpo_last_error(t))) }
        var rc: ibtpo_status = -1
        let c4 = count(t) { rc = generate(4) }
        XCTAssertEqual(rc, 0)
        let c16 = count(t) { rc = generate(16) }
        XCTAssertEqual(rc, 0)
        print("allocation calls of ibtpo_trainer_generate: \(c4) at n = 4, \(c16) at n = 16")
        XCTAssertGreaterThan(c16, 0)
        XCTAssertLessThanOrEqual(c16, 200)
    }

    /// ibtpo_trainer_evaluate allocates per problem (its prompt, the greedy and k sampled
    /// completions, their decoded text for the verifier), never per model tensor.
    func testEvaluateAllocationCount() throws {
        let (t, task) = try makeTrainerAndTask()
        defer { ibtpo_trainer_free(t); ibtpo_task_free(task) }
        var e = ibtpo_eval_config()
        XCTAssertEqual(ibtpo_eval_config_default(&e), 0)
        e.sampling = sampling(); e.k = 4
        var r = ibtpo_eval_result(); r.struct_size = UInt32(MemoryLayout<ibtpo_eval_result>.size)
        e.count = 8
        XCTAssertEqual(ibtpo_trainer_evaluate(t, task, &e, &r), 0, String(cString: ibtpo_last_error(t)))
        var rc: ibtpo_status = -1
        let c8 = count(t) { rc = ibtpo_trainer_evaluate(t, task, &e, &r) }
        XCTAssertEqual(rc, 0)
        e.count = 16
        let c16 = count(t) { rc = ibtpo_trainer_evaluate(t, task, &e, &r) }
        XCTAssertEqual(rc, 0)
        print("allocation calls of ibtpo_trainer_evaluate (k = 4): \(c8) for 8 problems, \(c16) for 16")
        XCTAssertGreaterThan(c16, 0)
        XCTAssertLessThanOrEqual(c16, 100 * 16)
    }

    /// ibtpo_trainer_step_rl allocates per trajectory and per tree node (rollout trees,
    /// training rows, per-step metrics lists), never per model tensor.
    func testStepRLAllocationCount() throws {
        let (t, task) = try makeTrainerAndTask()
        defer { ibtpo_trainer_free(t); ibtpo_task_free(task) }
        var c = ibtpo_rl_config()
        XCTAssertEqual(ibtpo_rl_config_default(&c), 0)
        c.prompts_per_step = 2; c.sampling = sampling(); c.sampling.stop_at_eos = 1
        XCTAssertEqual(ibtpo_trainer_rl_begin(t, task, &c, nil), 0, String(cString: ibtpo_last_error(t)))
        var m = ibtpo_rl_metrics(); m.struct_size = UInt32(MemoryLayout<ibtpo_rl_metrics>.size)
        XCTAssertEqual(ibtpo_trainer_step_rl(t, &m), 0, String(cString: ibtpo_last_error(t)))
        var rc: ibtpo_status = -1
        let calls = count(t) { rc = ibtpo_trainer_step_rl(t, &m) }
        XCTAssertEqual(rc, 0)
        print("allocation calls of one ibtpo_trainer_step_rl (IB-TPO, 2 prompts, \(m.trajectories) trajectories, "
            + "\(m.tree_nodes) nodes, \(m.generated_tokens) tokens): \(calls)")
        XCTAssertGreaterThan(calls, 0)
        XCTAssertLessThanOrEqual(calls, 100 * UInt64(m.trajectories + m.tree_nodes))
    }
}
