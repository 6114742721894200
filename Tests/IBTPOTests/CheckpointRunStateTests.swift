import Glibc
import XCTest
@testable import IBTPO

/// Format-2 checkpoints: the run-state section round-trips, format 1 is still written when
/// there is no run state and still loads, and malformed sections are refused.
final class CheckpointRunStateTests: XCTestCase {
    func config(seed: UInt64 = 5) -> TrainerConfig {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 16, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 24, maxSeq: 32)
        c.batch = 4; c.seq = 19; c.threads = 2; c.seed = seed
        return c
    }

    func tmpPath(_ name: String) -> String { "/tmp/ibtpo-test-\(getpid())-\(name).ckpt" }

    /// A format-2 file made from a format-1 encoding with `section` appended, CRC re-sealed.
    func v2(_ v1: [UInt8], section: [UInt8]) -> [UInt8] {
        var b = Array(v1.dropLast(4))
        b[8] = 2
        b += section
        let crc = CRC32.checksum(b)
        for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: crc >> (8 * i))) }
        return b
    }

    func entry(_ name: String, _ v: UInt64) -> [UInt8] {
        var w = ByteWriter(); w.string(name); w.u64(v); return w.out
    }

    func testRunStateRoundTripsAndFormat1IsUnchanged() throws {
        let a = try Trainer(config())
        _ = try a.trainOnReverse(steps: 2)
        let plain = Checkpoint.encode(a)
        XCTAssertEqual(plain[8], 1, "no run state: format 1")
        XCTAssertEqual(plain.count, Checkpoint.expectedFileSize(a.model.config))
        let state = RunState(["rl.completed_steps": 7, "rl.generated_tokens_total": 123_456_789_012, "a.b_9": .max])
        let path = tmpPath("rs")
        defer { unlink(path) }
        try Checkpoint.save(a, path: path, runState: state)
        let bytes = try FileIO.read(path)
        XCTAssertEqual(bytes[8], 2)
        XCTAssertEqual(Checkpoint.encode(a, runState: state), bytes, "encoding is deterministic (sorted names)")
        let b = try Trainer(config(seed: 77))
        let got = try Checkpoint.load(b, path: path)
        XCTAssertEqual(got, state)
        XCTAssertEqual(try Checkpoint.readRunState(path: path), state)
        XCTAssertEqual(try Checkpoint.readHeader(path: path).version, 2)
        var diffs = 0
        for i in 0..<a.model.layout.count where a.model.params[i].bitPattern != b.model.params[i].bitPattern { diffs += 1 }
        print("format 2: \(bytes.count - plain.count) extra bytes, \(diffs) parameters differ after load")
        XCTAssertEqual(diffs, 0)
        XCTAssertEqual(a.step, b.step)
        XCTAssertEqual(a.rng, b.rng)
        // A format-1 file still loads, with an empty run state.
        let c = try Trainer(config(seed: 78))
        XCTAssertEqual(try Checkpoint.load(c, bytes: plain, path: "v1"), RunState())
        XCTAssertEqual(c.step, a.step)
    }

    func testMalformedRunStateSectionsAreRefused() throws {
        let a = try Trainer(config())
        _ = try a.trainOnReverse(steps: 1)
        let v1 = Checkpoint.encode(a)
        func count(_ n: UInt32) -> [UInt8] { var w = ByteWriter(); w.u32(n); return w.out }
        let cases: [(String, [UInt8], String)] = [
            ("zero entries", count(0) + entry("x", 1), "entry count 0"),
            ("out of order", count(2) + entry("b", 1) + entry("a", 2), "out of order"),
            ("repeated", count(2) + entry("a", 1) + entry("a", 2), "out of order"),
            ("bad name", count(1) + entry("A B", 1), "invalid name"),
            ("trailing", count(1) + entry("a", 1) + [0, 0], "trailing"),
            ("short", count(2) + entry("a", 1), "truncated"),
            ("empty section", [], "format-2 checkpoint"),
        ]
        let t = try Trainer(config(seed: 9))
        let before = (0..<t.model.layout.count).map { t.model.params[$0].bitPattern }
        for (name, section, want) in cases {
            XCTAssertThrowsError(try Checkpoint.load(t, bytes: v2(v1, section: section), path: name), name) { e in
                let err = e as? IBTPOError
                print("\(name): \(e)")
                XCTAssertEqual(err?.status, .badCheckpoint, name)
                XCTAssertTrue(err?.message.hasPrefix("\(name): ") ?? false, name)
                XCTAssertTrue(err?.message.contains(want) ?? false, "\(name): \(e)")
            }
        }
        XCTAssertEqual((0..<t.model.layout.count).map { t.model.params[$0].bitPattern }, before, "trainer unchanged")
        XCTAssertEqual(t.step, 0)
        XCTAssertNoThrow(try Checkpoint.load(t, bytes: v2(v1, section: count(1) + entry("ok", 3)), path: "good"))
    }

    func testSaveRefusesInvalidCounterNames() throws {
        let a = try Trainer(config())
        let path = tmpPath("badname")
        defer { unlink(path) }
        for bad in [RunState(["": 1]), RunState(["Upper": 1]), RunState([String(repeating: "a", count: 65): 1]),
                    RunState(Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", UInt64($0)) }))] {
            XCTAssertThrowsError(try Checkpoint.save(a, path: path, runState: bad)) { e in
                XCTAssertEqual((e as? IBTPOError)?.status, .invalidArgument)
            }
            XCTAssertEqual(access(path, F_OK), -1, "nothing written")
        }
    }

    /// A fresh batcher skipped by `draws` continues the exact index sequence, across epochs of
    /// a finite data set (fresh permutation per epoch) and for an unbounded generator.
    func testBatcherSkipContinuesTheSequence() throws {
        let text = (0..<11).map { "{\"prompt\": \"\($0)+1=\", \"answer\": \"\($0 + 1)\"}" }.joined(separator: "\n")
        let finite = try JSONLDataset.parse(bytes: Array(text.utf8), file: "d.jsonl", maxTokens: 4096,
                                            tokenCount: { $0.utf8.count }, name: "d")
        let tasks: [any TrainingTask] = [finite, try builtinTask(name: "add", seed: 1)]
        for task in tasks {
            for k in [0, 1, 10, 11, 23, 40] {
                var a = SFTBatcher(task: task, seed: 4)
                let straight = (0..<60).map { _ in a.nextIndex() }
                var b = SFTBatcher(task: task, seed: 4)
                b.skip(draws: k)
                XCTAssertEqual(b.draws, k)
                let resumed = (k..<60).map { _ in b.nextIndex() }
                XCTAssertEqual(Array(straight[k...]), resumed, "\(task.name) skip \(k)")
            }
        }
        print("skip: index sequences equal for 2 tasks × 6 skip counts")
    }
}
