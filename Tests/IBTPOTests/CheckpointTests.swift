import Glibc
import XCTest
@testable import IBTPO

final class CheckpointTests: XCTestCase {
    func smallConfig(tie: Bool = false, seed: UInt64 = 5) -> TrainerConfig {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 16, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 24, maxSeq: 32, tieEmbeddings: tie)
        c.batch = 4; c.seq = 19; c.threads = 2; c.seed = seed
        return c
    }

    func tmpPath(_ name: String) -> String { "/tmp/ibtpo-test-\(getpid())-\(name).ckpt" }

    func train(_ t: Trainer, steps: Int) throws -> [Float] { try t.trainOnReverse(steps: steps) }

    /// Save → load into a fresh trainer restores parameters, AdamW moments, step and RNG bit
    /// for bit, and training continues identically (the oracle is the uninterrupted run).
    func testRoundTripIsBitExactAndResumesIdentically() throws {
        for tie in [false, true] {
            let a = try Trainer(smallConfig(tie: tie))
            _ = try train(a, steps: 3)
            let path = tmpPath("rt\(tie)")
            defer { unlink(path) }
            try Checkpoint.save(a, path: path)
            let b = try Trainer(smallConfig(tie: tie, seed: 99))   // different init, overwritten by load
            try Checkpoint.load(b, path: path)
            let n = a.model.layout.count
            var diffs = 0
            for i in 0..<n {
                if a.model.params[i].bitPattern != b.model.params[i].bitPattern { diffs += 1 }
                if a.model.adamM[i].bitPattern != b.model.adamM[i].bitPattern { diffs += 1 }
                if a.model.adamV[i].bitPattern != b.model.adamV[i].bitPattern { diffs += 1 }
            }
            XCTAssertEqual(diffs, 0)
            XCTAssertEqual(a.step, b.step)
            XCTAssertEqual(a.rng, b.rng)
            let la = try train(a, steps: 3), lb = try train(b, steps: 3)
            print("tie=\(tie): \(3 * n) floats compared, \(diffs) differ; continued losses \(la) vs \(lb)")
            XCTAssertEqual(la.map(\.bitPattern), lb.map(\.bitPattern))
        }
    }

    /// Every corruption is rejected with a clear error and leaves the trainer unchanged.
    func testBadFilesAreRejectedWithoutChangingState() throws {
        let a = try Trainer(smallConfig())
        _ = try train(a, steps: 1)
        let good = Checkpoint.encode(a)
        let t = try Trainer(smallConfig(seed: 42))
        let before = (0..<t.model.layout.count).map { t.model.params[$0].bitPattern }
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("short", Array(good[0..<10])),
            ("truncated", Array(good[0..<(good.count / 2)])),
            ("bad magic", [0x58] + Array(good[1...])),
            ("trailing byte", good + [0]),
        ]
        var flipped = good; flipped[good.count / 2] ^= 0x10; cases.append(("flipped bit", flipped))
        var version = good; version[8] = 9; cases.append(("future version", version))
        for (name, bytes) in cases {
            do {
                try Checkpoint.load(t, bytes: bytes, path: "case-\(name)")
                XCTFail("\(name): accepted")
            } catch let e as IBTPOError {
                print("\(name): \(e.status) — \(e.message)")
                XCTAssertEqual(e.status, .badCheckpoint, name)
            }
        }
        // Same bytes, other config.
        let other = try Trainer({ var c = smallConfig(); c.model.dFF = 32; return c }())
        XCTAssertThrowsError(try Checkpoint.load(other, bytes: good, path: "mismatch")) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .configMismatch)
            print("mismatch: \(e)")
        }
        XCTAssertThrowsError(try Checkpoint.load(t, path: "/nonexistent/dir/x.ckpt")) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .io)
        }
        let after = (0..<t.model.layout.count).map { t.model.params[$0].bitPattern }
        XCTAssertEqual(before, after)
        XCTAssertEqual(t.step, 0)
    }

    /// CRC-32 matches zlib's published check value for "123456789".
    func testCRC32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }
}
