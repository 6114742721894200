import Glibc
import XCTest
@testable import IBTPO

/// Checkpoint loads refuse state no trainer could have written, check the file size against
/// the header before reading or allocating, and name the file in every error (issue 12).
/// Mutations re-seal the CRC, so that the checks behind the checksum are what is tested.
final class CheckpointValidationTests: XCTestCase {
    /// From docs/checkpoint-format.md: the tensor records start at byte 140; steps above 2^53 are refused.
    static let headerSize = 140
    static let maxStep: UInt64 = 1 << 53

    func config(tie: Bool = false, seed: UInt64 = 5) -> TrainerConfig {
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 16, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 24, maxSeq: 32, tieEmbeddings: tie)
        c.batch = 4; c.seq = 19; c.threads = 1; c.seed = seed
        return c
    }

    func tmpPath(_ name: String) -> String { "/tmp/ibtpo-ckv-\(getpid())-\(name)" }

    func step(_ t: Trainer) throws -> StepStats {
        _ = ReverseTask().fill(tokens: t.model.tokens, targets: t.model.targets, coef: t.model.coef,
                               batch: t.config.batch, seq: t.config.seq, rng: &t.rng)
        return try t.supervisedStep()
    }

    /// Recomputes the trailing CRC-32 after a mutation.
    static func seal(_ b: inout [UInt8]) {
        let crc = CRC32.checksum(b[0..<(b.count - 4)])
        for i in 0..<4 { b[b.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
    }
    static func put64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
        for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }
    static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }

    /// Byte offset of element `j` of the tensor record named `name` (walks the records).
    static func dataOffset(_ b: [UInt8], _ name: String, _ j: Int) -> Int {
        func u32(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 }
        var pos = Self.headerSize
        while true {
            let len = u32(pos)
            let n = String(decoding: b[(pos + 4)..<(pos + 4 + len)], as: UTF8.self)
            pos += 4 + len
            let rank = u32(pos)
            pos += 4 + 8 * rank
            let count = u32(pos)
            pos += 8
            if n == name { return pos + 4 * j }
            pos += 4 * count
        }
    }

    /// Each impossible state is refused with `.badCheckpoint`, a message naming the file and
    /// the problem, and the trainer unchanged. Before the fix every one of these loaded OK.
    func testImpossibleStateIsRefused() throws {
        let a = try Trainer(config())
        _ = try step(a)
        let good = Checkpoint.encode(a)
        let t = try Trainer(config(seed: 42))
        let before = (0..<t.model.layout.count).map { t.model.params[$0].bitPattern }
        let w = Self.dataOffset(good, "layers.1.attention.wk", 3)
        let m = Self.dataOffset(good, "adam.m.norm", 0)
        let v = Self.dataOffset(good, "adam.v.tok_embeddings", 100)
        let cases: [(String, String, (inout [UInt8]) -> Void)] = [
            ("NaN weight", "values must be finite", { Self.put32(&$0, w, Float.nan.bitPattern) }),
            ("inf weight", "values must be finite", { Self.put32(&$0, w, Float.infinity.bitPattern) }),
            ("inf adam.m", "values must be finite", { Self.put32(&$0, m, (-Float.infinity).bitPattern) }),
            ("NaN adam.v", "values must be finite", { Self.put32(&$0, v, Float.nan.bitPattern) }),
            ("negative adam.v", "never negative", { Self.put32(&$0, v, Float(-1e-6).bitPattern) }),
            ("all-zero RNG", "RNG state is all zero", { for i in 104..<136 { $0[i] = 0 } }),
            ("tie_embeddings 2", "tie_embeddings must be 0 or 1", { Self.put64(&$0, 16 + 7 * 8, 2) }),
            ("reserved 1", "reserved config field", { Self.put64(&$0, 16 + 8 * 8, 1) }),
            ("step INT64_MAX", "step", { Self.put64(&$0, 96, UInt64(Int64.max)) }),
            ("step INT64_MAX - 1", "step", { Self.put64(&$0, 96, UInt64(Int64.max) - 1) }),
            ("step 2^53 + 1", "step", { Self.put64(&$0, 96, Self.maxStep + 1) }),
            ("name length 2^32-1", "implausible", { Self.put32(&$0, Self.headerSize, .max) }),
            ("tensor count + 1", "tensor count", { Self.put32(&$0, 136, UInt32(3 * a.model.layout.tensors.count + 1)) }),
            ("rank 9", "rank", { Self.put32(&$0, Self.headerSize + 4 + "tok_embeddings".utf8.count, 9) }),
        ]
        var refused = 0
        for (name, want, mutate) in cases {
            var b = good
            mutate(&b)
            Self.seal(&b)
            let path = "mutated-\(name.replacingSpaces)"
            do {
                try Checkpoint.load(t, bytes: b, path: path)
                XCTFail("\(name): loaded OK")
            } catch let e as IBTPOError {
                print("\(name): \(e.status) — \(e.message)")
                XCTAssertEqual(e.status, .badCheckpoint, name)
                XCTAssertTrue(e.message.hasPrefix(path + ": "), "\(name): message does not start with the path: \(e.message)")
                XCTAssertTrue(e.message.contains(want), "\(name): \(e.message) lacks '\(want)'")
                refused += 1
            }
        }
        let after = (0..<t.model.layout.count).map { t.model.params[$0].bitPattern }
        XCTAssertEqual(before, after)
        XCTAssertEqual(t.step, 0)
        print("\(refused) of \(cases.count) impossible checkpoints refused; trainer unchanged")

        // The bound is safe: a checkpoint at step 2^53 loads and trains on without a trap.
        var b = good
        Self.put64(&b, 96, Self.maxStep)
        Self.seal(&b)
        try Checkpoint.load(t, bytes: b, path: "at-max-step")
        let s = try step(t)
        XCTAssertEqual(UInt64(t.step), Self.maxStep + 1)
        XCTAssertTrue(s.loss.isFinite)
        print("step 2^53 loads; the next step gives step \(t.step), loss \(s.loss)")
    }

    /// Headers that claim a model their file does not hold are refused by `readHeader` (what
    /// the CLI calls before it allocates the model) and by `load`, reading only the header:
    /// 10 MB files with a valid CRC claiming 256 layers, a 2^20 vocabulary or max_seq 65,536
    /// (before: readHeader accepted them, and the CLI then allocated 3–16 GB).
    func testHeaderIsCheckedAgainstTheFileSizeBeforeAllocating() throws {
        let a = try Trainer(config())
        let good = Checkpoint.encode(a)
        let claims: [(String, Int, Int)] = [("256 layers", 2, 256), ("vocab 2^20", 0, 1 << 20), ("max_seq 65536", 6, 65536)]
        for (what, field, value) in claims {
          for rightCount in [false, true] {
            // header + one record "x" of ~10 MB of zeros, CRC valid: parses as a file, not as that model;
            // the tensor count is 1, or the one the claimed model has (then only the size gives it away)
            var b = Array(good[0..<Self.headerSize])
            Self.put64(&b, 16 + 8 * field, UInt64(value))
            var claimed = a.model.config
            switch field { case 2: claimed.nLayers = value; case 0: claimed.vocab = value; default: claimed.maxSeq = value }
            Self.put32(&b, 136, rightCount ? UInt32(3 * ParamLayout(claimed).tensors.count) : 1)
            let n = 10 << 18
            var w = ByteWriter()
            w.string("x"); w.u32(1); w.i64(Int64(n)); w.u64(UInt64(n))
            b += w.out + [UInt8](repeating: 0, count: 4 * n) + [0, 0, 0, 0]
            Self.seal(&b)
            let path = tmpPath("claim")
            defer { unlink(path) }
            try FileIO.writeAtomically(path, b)
            XCTAssertThrowsError(try Checkpoint.readHeader(path: path), what) { e in
                let e = e as! IBTPOError
                print("\(what) in a \(b.count)-byte file: readHeader → \(e.status): \(e.message)")
                XCTAssertEqual(e.status, .badCheckpoint)
                XCTAssertTrue(e.message.hasPrefix(path + ": "))
            }
            XCTAssertThrowsError(try Checkpoint.load(a, path: path), what)
          }
        }
    }

    /// A 2 GB file (sparse) with a good header is refused from its size alone: peak RSS grows
    /// by far less than the file (before: the whole file was read first, +2 GB).
    func testLargeFileIsRefusedWithoutReadingIt() throws {
        let a = try Trainer(config())
        let good = Checkpoint.encode(a)
        let path = tmpPath("big")
        defer { unlink(path) }
        try FileIO.writeAtomically(path, good)
        XCTAssertEqual(truncate(path, off_t(2) << 30), 0)
        func peakRSS() -> Int { var u = rusage(); getrusage(RUSAGE_SELF.rawValue, &u); return u.ru_maxrss * 1024 }
        let rss0 = peakRSS()
        for f in [{ _ = try Checkpoint.readHeader(path: path) }, { try Checkpoint.load(a, path: path) }] {
            XCTAssertThrowsError(try f()) { e in
                let e = e as! IBTPOError
                XCTAssertEqual(e.status, .badCheckpoint)
                XCTAssertTrue(e.message.hasPrefix(path + ": ") && e.message.contains("trailing"), e.message)
                print(e.message)
            }
        }
        let grew = peakRSS() - rss0
        print("2 GiB checkpoint refused; peak RSS grew by \(grew / 1024) KiB")
        XCTAssertLessThan(grew, 64 << 20)
        XCTAssertEqual(a.step, 0)
    }

    /// Files that are not regular are refused at once, naming the path (a FIFO is opened
    /// non-blocking, so this returns instead of waiting for a writer).
    func testNonRegularFilesAreRefused() throws {
        let a = try Trainer(config())
        let fifo = tmpPath("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        for (path, kind) in [("/dev/zero", "character device"), ("/tmp", "directory"), (fifo, "FIFO")] {
            for f in [{ _ = try Checkpoint.readHeader(path: path) }, { try Checkpoint.load(a, path: path) }] {
                XCTAssertThrowsError(try f()) { e in
                    let e = e as! IBTPOError
                    XCTAssertEqual(e.status, .io)
                    XCTAssertTrue(e.message.contains(path) && e.message.contains(kind), e.message)
                }
            }
            print("\(path): refused as a \(kind)")
        }
    }

    /// Every truncation of a good file, at every header byte and at some points inside the
    /// tensors, is refused with a message that starts with the path.
    func testEveryTruncationNamesThePath() throws {
        let a = try Trainer(config())
        let good = Checkpoint.encode(a)
        var cuts = Array(0..<(Self.headerSize + 40))
        cuts += stride(from: Self.headerSize + 40, to: good.count, by: 997)
        var named = 0
        for cut in cuts {
            var b = Array(good[0..<cut])
            if b.count >= 4 { Self.seal(&b) }
            do {
                try Checkpoint.load(a, bytes: b, path: "cut.ckpt")
                XCTFail("cut at \(cut) loaded")
            } catch let e as IBTPOError {
                XCTAssertEqual(e.status, .badCheckpoint)
                if e.message.hasPrefix("cut.ckpt: ") { named += 1 } else { XCTFail("cut \(cut): \(e.message)") }
            }
        }
        print("\(named) of \(cuts.count) truncated checkpoints refused with the path in the message")
    }
}

private extension String {
    var replacingSpaces: String { String(map { $0 == " " ? "-" : $0 }) }
}
