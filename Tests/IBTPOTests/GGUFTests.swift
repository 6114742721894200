import Glibc
import XCTest
@testable import IBTPO

/// GGUF reading: metadata, the tensor directory, every supported tensor type dequantised
/// against the `gguf` Python package's own dequantiser (Tests/fixtures/gguf/make_types.py
/// wrote the fixture, with the package's float32 results beside each tensor), and hostile
/// files (truncations, absurd counts) refused without a crash.
final class GGUFTests: XCTestCase {
    static let fixtures: String = {
        let here = String(describing: #filePath)
        let dir = here[..<(here.lastIndex(of: "/") ?? here.endIndex)]        // Tests/IBTPOTests
        let tests = dir[..<(dir.lastIndex(of: "/") ?? dir.endIndex)]        // Tests
        return tests + "/fixtures/gguf"
    }()
    static var typesPath: String { fixtures + "/types.gguf" }

    func testMetadataAndDirectory() throws {
        let g = try GGUFFile(path: Self.typesPath)
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(g.metadata["test.u32"]?.int, 4_000_000_000)
        XCTAssertEqual(g.metadata["test.i32"]?.int, -7)
        XCTAssertEqual(g.metadata["test.f32"]?.double, 0.25)
        XCTAssertEqual(g.metadata["test.bool"]?.bool, true)
        XCTAssertEqual(g.metadata["test.string"]?.string, "héllo")
        XCTAssertEqual(g.metadata["test.strings"]?.array?.compactMap(\.string), ["a", "", "Ġthe"])
        XCTAssertEqual(g.metadata["test.ints"]?.array?.compactMap(\.int), [1, -2, 3])
        XCTAssertEqual(g.tensors.count, 2 * GGUFTensorType.allCases.count)
        let q = try XCTUnwrap(g.tensor("t.q4_k"))
        XCTAssertEqual(q.dims, [512, 3])
        XCTAssertEqual(q.byteCount, 3 * 2 * 144)
    }

    func testEveryTypeMatchesTheGGUFPackage() throws {
        let g = try GGUFFile(path: Self.typesPath)
        var worst = Worst("GGUF dequantisation vs the gguf package, relative")
        var differ = 0, total = 0
        for type in GGUFTensorType.allCases {
            let name = "t." + type.name.lowercased()
            let t = try XCTUnwrap(g.tensor(name), name)
            let r = try XCTUnwrap(g.tensor(name + ".ref"), name)
            XCTAssertEqual(t.type, type)
            XCTAssertEqual(t.elementCount, r.elementCount)
            var got = [Float](repeating: .nan, count: t.elementCount)
            var want = [Float](repeating: .nan, count: r.elementCount)
            try got.withUnsafeMutableBufferPointer { try g.dequantize(t, into: $0) }
            try want.withUnsafeMutableBufferPointer { try g.dequantize(r, into: $0) }
            var bad = 0
            for i in 0..<got.count {
                worst.rel(Double(got[i]), Double(want[i]), floor: 1e-6, "\(type.name)[\(i)]")
                if got[i].bitPattern != want[i].bitPattern { bad += 1 }
            }
            differ += bad; total += got.count
            print("\(type.name): \(got.count) values, \(bad) differ in bits from the gguf package")
        }
        print("\(worst); \(differ) of \(total) values differ in bits")
        XCTAssertLessThanOrEqual(worst.err, 1e-6)
    }

    func testDequantizeRefusesASmallBuffer() throws {
        let g = try GGUFFile(path: Self.typesPath)
        let t = try XCTUnwrap(g.tensor("t.q8_0"))
        var small = [Float](repeating: 0, count: t.elementCount - 1)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer { try g.dequantize(t, into: $0) })
    }

    /// Every prefix of the header region, and files whose counts, lengths, dimensions, types
    /// or offsets are absurd: each must be refused with an error naming the file.
    func testHostileFilesAreRefused() throws {
        let bytes = try readAll(Self.typesPath)
        let dir = tempDir()
        defer { _ = rmdirTree(dir) }
        let path = dir + "/x.gguf"
        var refused = 0, accepted = 0
        func attempt(_ b: [UInt8], mustFail: Bool, _ what: String) {
            write(b, path)
            do {
                _ = try GGUFFile(path: path)
                accepted += 1
                if mustFail { XCTFail("accepted: \(what)") }
            } catch let e as IBTPOError {
                refused += 1
                XCTAssertTrue(e.message.contains(path), "message lacks the path: \(e.message)")
            } catch { XCTFail("unexpected error \(error)") }
        }
        // Truncations: every prefix that cuts into the last tensor's data (or before) fails.
        let dataEnd = try GGUFFile(path: Self.typesPath).tensors.map { $0.fileOffset + $0.byteCount }.max() ?? 0
        for n in stride(from: 0, to: dataEnd, by: max(1, dataEnd / 700)) {
            attempt(Array(bytes[0..<n]), mustFail: true, "prefix of \(n) bytes")
        }
        attempt(bytes, mustFail: false, "the file itself")
        // Absurd values at the fixed header fields.
        func patched(_ off: Int, _ v: UInt64, _ n: Int) -> [UInt8] {
            var b = bytes
            for i in 0..<n { b[off + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            return b
        }
        attempt(patched(0, 0x4647_4755, 4), mustFail: true, "bad magic")
        attempt(patched(4, 1, 4), mustFail: true, "version 1")
        attempt(patched(8, UInt64.max, 8), mustFail: true, "tensor count 2^64-1")
        attempt(patched(16, 1 << 40, 8), mustFail: true, "metadata count 2^40")
        // Random single-byte mutations of the header region: any outcome but a crash is fine,
        // and an accepted file must still have every tensor inside the file.
        // Then hostile 64-bit and 32-bit numbers (sizes past the file and past memory) written
        // over any field of the header: counts, string and array lengths, dimensions, types,
        // offsets. Accepted files must hold every tensor inside the file and dequantise.
        var rng = Rng(seed: 11)
        let headerEnd = min(bytes.count, 2048)
        let hostile: [UInt64] = [0, 1, 2, 3, 31, 32, 33, 255, 1 << 16, 1 << 31, 1 << 32, UInt64(bytes.count),
                                 UInt64(bytes.count) + 1, 1 << 40, 1 << 62, UInt64(Int64.max), .max]
        var mutated = 0, survived = 0
        for round in 0..<4400 {
            var b = bytes
            if round % 2 == 0 {
                for _ in 0...Int(rng.next() % 3) { b[Int(rng.next() % UInt64(headerEnd))] = UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                let at = Int(rng.next() % UInt64(headerEnd - 8)), v = hostile[Int(rng.next() % UInt64(hostile.count))]
                for i in 0..<(rng.next() % 2 == 0 ? 8 : 4) { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            }
            write(b, path)
            mutated += 1
            do {
                let g = try GGUFFile(path: path)
                survived += 1
                for t in g.tensors {
                    XCTAssertLessThanOrEqual(t.fileOffset + t.byteCount, b.count)
                    var out = [Float](repeating: 0, count: t.elementCount)
                    try? out.withUnsafeMutableBufferPointer { try g.dequantize(t, into: $0) }
                }
            } catch let e as IBTPOError {
                XCTAssertTrue(e.message.contains(path), "message lacks the path: \(e.message)")
            } catch { XCTFail("unexpected error \(error)") }
        }
        let total = refused + accepted + mutated
        print("hostile GGUF files: \(total) in all; \(refused) truncated or absurd ones refused, \(mutated) mutated headers "
            + "(\(mutated - survived) refused, \(survived) accepted with every tensor inside the file), none crashed")
        XCTAssertGreaterThanOrEqual(total, 5000)
    }

    /// Metadata that declares a model far larger than the file's tensors, within the config's
    /// limits (200 layers, d_ff 60,000: gigabytes of arena for a 320 KB file), is refused by
    /// the tensor check, naming the tensor, before any arena is sized from it.
    func testHugeDeclaredModelIsRefusedBeforeAllocation() throws {
        let src = String(Self.fixtures.dropLast("gguf".count)) + "models/llama_tied.gguf"
        let bytes = try readAll(src)
        let dir = tempDir()
        defer { _ = rmdirTree(dir) }
        for (key, value, what) in [("llama.block_count", 200, "blk.2."), ("llama.feed_forward_length", 60_000, "ffn_gate")] {
            var b = bytes
            let k = Array(key.utf8)
            guard let at = (0..<(b.count - k.count)).first(where: { Array(b[$0..<($0 + k.count)]) == k }) else {
                return XCTFail("\(key) not in \(src)")
            }
            let v = at + k.count + 4   // after the key: u32 type (UINT32), then the value
            XCTAssertEqual(b[at + k.count], 4)
            for i in 0..<4 { b[v + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
            let path = dir + "/huge.gguf"
            write(b, path)
            XCTAssertThrowsError(try PretrainedModel.open(path, maxSeq: 64)) { e in
                let m = (e as? IBTPOError)?.message ?? "\(e)"
                print("\(key) = \(value): \(m)")
                XCTAssertEqual((e as? IBTPOError)?.status, .badData)
                XCTAssertTrue(m.contains(path) && m.contains(what), m)
            }
        }
    }

    /// Optional: the real SmolLM2-135M-Instruct Q4_1 file ($IBTPO_TEST_GGUF, or where
    /// `make models` puts it).
    func testRealModelFileWhenAvailable() throws {
        guard let p = FixturePaths.smolLM2 else {
            print("\(FixturePaths.noSmolLM2): real-model GGUF check skipped")
            return
        }
        let g = try GGUFFile(path: p)
        print("\(g.path): GGUF v\(g.version), \(g.metadata.count) metadata keys, \(g.tensors.count) tensors, "
            + "architecture \(g.metadata["general.architecture"]?.string ?? "?")")
        for t in g.tensors {
            var out = [Float](repeating: .nan, count: t.elementCount)
            try out.withUnsafeMutableBufferPointer { try g.dequantize(t, into: $0) }
            XCTAssertTrue(out.allSatisfy(\.isFinite), t.name)
        }
    }

    /// Optional: logits of SmolLM2 (FixturePaths.smolLM2) against transformers' own GGUF
    /// loading of the same file (IBTPO_TEST_GGUF_LOGITS, written by
    /// Tests/fixtures/gguf/ref_logits.py for its 15 token ids; `make test-interop` does both).
    func testLogitsMatchTransformersWhenAvailable() throws {
        guard let p = FixturePaths.smolLM2, let r = getenv("IBTPO_TEST_GGUF_LOGITS") else {
            print("SmolLM2 or IBTPO_TEST_GGUF_LOGITS missing: logit check against transformers skipped "
                + "(`make test-interop` runs it)")
            return
        }
        let tokens: [Int32] = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 30, 2, 198, 1, 520, 9531, 198]
        let g = try GGUFFile(path: p)
        let cfg = try ModelConfig(gguf: g, maxSeq: 64)
        let T = tokens.count
        let m = try Model(config: cfg, shape: TrainShape(batch: 1, seq: T), threads: 2, seed: 1)
        let t0 = monotonicSeconds()
        try m.loadWeights(from: g)
        let loadSeconds = monotonicSeconds() - t0
        for i in 0..<T { m.tokens[i] = tokens[i]; m.targets[i] = -1; m.coef[i] = 0 }
        m.forward()
        let ref = try MappedFile(path: String(cString: r))
        let V = cfg.vocab
        XCTAssertEqual(ref.bytes.count, T * V * 4)
        var worst = Worst("SmolLM2 logits vs transformers (abs)")
        var maxAbs = 0.0
        ref.bytes.withMemoryRebound(to: Float.self) { want in
            for i in 0..<(T * V) {
                worst.see(Double(m.logits[i]), Double(want[i]), denom: 1, "t \(i / V) v \(i % V)")
                maxAbs = max(maxAbs, abs(Double(want[i])))
            }
        }
        print("\(worst); max |logit| \(maxAbs); \(cfg.nLayers) layers d \(cfg.dModel) vocab \(V); "
            + "weights loaded in \(loadSeconds) s")
        XCTAssertLessThan(worst.err, 1e-3 * max(1, maxAbs))
    }

    // MARK: helpers

    private func readAll(_ path: String) throws -> [UInt8] {
        let m = try MappedFile(path: path)
        return Array(m.bytes)
    }
    private func write(_ b: [UInt8], _ path: String) {
        let f = fopen(path, "wb")!
        _ = b.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
    private func tempDir() -> String {
        var t = Array("/tmp/ibtpo-gguf-XXXXXX".utf8CString)
        return t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    private func rmdirTree(_ d: String) -> Int32 {
        unlink(d + "/x.gguf")
        return rmdir(d)
    }
}
