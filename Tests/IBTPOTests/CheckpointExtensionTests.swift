import Glibc
import XCTest
@testable import IBTPO

/// Format 3: extended model configs (head_dim, q/k/v biases, RoPE scaling) and named assets
/// survive a save/load bit for bit, training continues identically, and malformed extension
/// blocks are refused without changing the trainer.
final class CheckpointExtensionTests: XCTestCase {
    func config(seed: UInt64 = 5) throws -> TrainerConfig {
        var c = TrainerConfig()
        let scaling = try RopeScaling.llama3(.init(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16),
                                             headDim: 6, theta: 10000)
        c.model = ModelConfig(vocab: 259, dModel: 16, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 24, maxSeq: 32,
                              tieEmbeddings: false, headDim: 6, attentionBias: true, ropeScaling: scaling)
        c.batch = 4; c.seq = 19; c.threads = 2; c.seed = seed
        return c
    }

    func testRoundTripOfExtendedConfigAndAssets() throws {
        let a = try Trainer(try config())
        a.assets = ["tokenizer.json": Array("{\"model\": {}}".utf8), "chat_template": Array("{{ x }}".utf8)]
        _ = try a.trainOnReverse(steps: 3)
        let path = "/tmp/ibtpo-test-\(getpid())-ext.ckpt"
        defer { unlink(path) }
        try Checkpoint.save(a, path: path)
        let h = try Checkpoint.readHeader(path: path)
        XCTAssertEqual(h.version, Checkpoint.extendedFormatVersion)
        XCTAssertEqual(h.config, a.model.config)
        XCTAssertEqual(h.assets, a.assets)
        let b = try Trainer(try config(seed: 77))
        try Checkpoint.load(b, path: path)
        var diffs = 0
        for i in 0..<a.model.layout.count where a.model.params[i].bitPattern != b.model.params[i].bitPattern
            || a.model.adamV[i].bitPattern != b.model.adamV[i].bitPattern { diffs += 1 }
        XCTAssertEqual(diffs, 0)
        XCTAssertEqual(b.assets, a.assets)
        let la = try a.trainOnReverse(steps: 2), lb = try b.trainOnReverse(steps: 2)
        print("format 3: \(a.model.layout.count) params, \(diffs) differ; continued losses \(la) vs \(lb)")
        XCTAssertEqual(la.map(\.bitPattern), lb.map(\.bitPattern))
        // A plain model without assets is still written as format 1.
        var plain = TrainerConfig(); plain.model = ModelConfig(dModel: 16, nLayers: 1, nHeads: 4, nKVHeads: 2, dFF: 24, maxSeq: 32)
        plain.batch = 2; plain.seq = 8
        let p = try Trainer(plain)
        try Checkpoint.save(p, path: path)
        XCTAssertEqual(try Checkpoint.readHeader(path: path).version, Checkpoint.formatVersion)
    }

    /// Every single-byte change in the extension block and every truncation inside it is
    /// refused with `.badCheckpoint` (the CRC or a field check), and the trainer is unchanged.
    func testCorruptExtensionBlocksAreRefused() throws {
        let a = try Trainer(try config())
        a.assets = ["chat_template": Array("hi".utf8)]
        let bytes = Checkpoint.encode(a)
        let b = try Trainer(try config(seed: 9))
        let before = Array(UnsafeBufferPointer(start: b.model.params, count: b.model.layout.count))
        let extStart = Checkpoint.headerSize, extLen = Int(bytes[extStart]) | Int(bytes[extStart + 1]) << 8
        var refused = 0, tried = 0
        for off in extStart..<(extStart + 4 + extLen) {
            for delta: UInt8 in [1, 0x80] {
                var m = bytes; m[off] ^= delta
                tried += 1
                do { try Checkpoint.load(b, bytes: m, path: "mut\(off)"); XCTFail("accepted a change at \(off)") }
                catch let e as IBTPOError { XCTAssertEqual(e.status, .badCheckpoint, e.message); refused += 1 }
            }
        }
        for cut in stride(from: extStart, to: extStart + 4 + extLen, by: 3) {
            tried += 1
            do { try Checkpoint.load(b, bytes: Array(bytes[0..<cut]), path: "cut\(cut)"); XCTFail("accepted a cut at \(cut)") }
            catch let e as IBTPOError { XCTAssertEqual(e.status, .badCheckpoint, e.message); refused += 1 }
        }
        let after = Array(UnsafeBufferPointer(start: b.model.params, count: b.model.layout.count))
        XCTAssertEqual(before.map(\.bitPattern), after.map(\.bitPattern))
        XCTAssertTrue(b.assets.isEmpty)
        print("extension block of \(extLen) bytes: \(refused) of \(tried) corruptions refused")
    }

    func testLlama3FactorsMatchTransformersFormula() throws {
        // Llama 3.1's published parameters with head_dim 128, θ = 500000: frequencies with
        // wavelength < 8192/4 keep factor 1, > 8192/1 get 8, and those between interpolate.
        let p = RopeScaling.Llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192)
        let r = try RopeScaling.llama3(p, headDim: 128, theta: 500000)
        var worst = 0.0
        for j in 0..<64 {
            let inv = 1 / pow(500000.0, Double(2 * j) / 128), wl = 2 * Double.pi / inv
            let expect: Double = wl < 2048 ? 1 : wl > 8192 ? 8 : 1 / ((1 - (8192 / wl - 1) / 3) / 8 + (8192 / wl - 1) / 3)
            worst = max(worst, abs(Double(r.factors[j]) - expect) / expect)
        }
        print("llama3 factors: first \(r.factors[0]), last \(r.factors[63]); worst rel err \(worst)")
        XCTAssertEqual(r.factors[0], 1); XCTAssertEqual(r.factors[63], 8)
        XCTAssertLessThan(worst, 1e-6)
        XCTAssertThrowsError(try RopeScaling.llama3(.init(factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositions: 8192),
                                                    headDim: 128, theta: 500000))
    }
}
