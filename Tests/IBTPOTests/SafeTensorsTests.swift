import Foundation
import XCTest
@testable import IBTPO

/// The safetensors reader: a file written by Hugging Face's `safetensors` (torch) with torch's
/// own float32 conversion of each dtype beside it (tools/fixtures/make_safetensors.py), files
/// built by hand with known bit patterns, every refusal, sharded sets, and ≥ 5,000 mutated
/// headers that must each be refused with an IBTPOError or accepted with every tensor inside
/// the file.
final class SafeTensorsTests: XCTestCase {
    static var fixtures: String { HFFixtures.dir }

    func testTorchWrittenFileMatchesTorchConversion() throws {
        let f = try SafeTensorsFile(path: Self.fixtures + "/dtypes.safetensors")
        XCTAssertEqual(f.metadata["format"], "pt")
        var differ = 0, total = 0
        for (name, dtype) in [("f32", SafeTensorsFile.DType.f32), ("f16", .f16), ("bf16", .bf16), ("f64", .f64)] {
            let t = try XCTUnwrap(f.tensor(name)), r = try XCTUnwrap(f.tensor(name + ".ref"))
            XCTAssertEqual(t.dtype, dtype)
            XCTAssertEqual(t.shape, r.shape)
            XCTAssertEqual(t.shape, [2, 506])
            var got = [Float](repeating: 0, count: t.elementCount), want = got
            try got.withUnsafeMutableBufferPointer { try f.read(t, into: $0) }
            try want.withUnsafeMutableBufferPointer { try f.read(r, into: $0) }
            var bad = 0
            for i in 0..<got.count where !(got[i].bitPattern == want[i].bitPattern || (got[i].isNaN && want[i].isNaN)) {
                bad += 1
                if bad == 1 { XCTFail("\(name)[\(i)]: \(got[i]) vs torch \(want[i])") }
            }
            differ += bad; total += got.count
        }
        print("safetensors vs torch .float(): \(total) values of F32/F16/BF16/F64, \(differ) differ in bits")
        XCTAssertEqual(differ, 0)
        for name in ["i64", "u8"] {
            let t = try XCTUnwrap(f.tensor(name))
            var out = [Float](repeating: 0, count: max(1, t.elementCount))
            XCTAssertThrowsError(try out.withUnsafeMutableBufferPointer { try f.read(t, into: $0) }) { e in
                let e = e as? IBTPOError
                XCTAssertEqual(e?.status, .notSupported)
                XCTAssertTrue(e?.message.contains(name) == true && e?.message.contains("dtypes.safetensors") == true, "\(String(describing: e))")
            }
        }
        let s = try XCTUnwrap(f.tensor("scalar"))
        XCTAssertEqual(s.shape, [])
        var one: [Float] = [0]
        try one.withUnsafeMutableBufferPointer { try f.read(s, into: $0) }
        XCTAssertEqual(one, [2.5])
        let e = try XCTUnwrap(f.tensor("empty"))
        XCTAssertEqual(e.shape, [0, 3]); XCTAssertEqual(e.elementCount, 0)
        var none: [Float] = []
        try none.withUnsafeMutableBufferPointer { try f.read(e, into: $0) }
        // Tensors come in data order and tile the data.
        var at = f.tensors.first?.fileOffset ?? 0
        for t in f.tensors { XCTAssertEqual(t.fileOffset, at); at += t.byteCount }
    }

    func testHandBuiltBitPatterns() throws {
        var b = SafeTensorsBuilder()
        b.metadata = ["format": "pt", "note": "é \"quoted\""]
        b.f32("a.weight", [2, 3], [1, -2, 0.5, .infinity, -0.0, 3.4028235e38])
        // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), -inf, 2^-14 (smallest normal)
        b.f16("h", [3, 2], [0x3C00, 0xC000, 0x7BFF, 0x0001, 0xFC00, 0x0400])
        // BF16: 1, -3, 2^-133 (a subnormal), 1.5
        b.bf16("g", [4], [0x3F80, 0xC040, 0x0001, 0x3FC0])
        let dir = ScratchDir()
        let path = dir.write("x.safetensors", b.bytes())
        let f = try SafeTensorsFile(path: path)
        XCTAssertEqual(f.metadata, ["format": "pt", "note": "é \"quoted\""])
        XCTAssertEqual(f.tensors.map(\.name), ["a.weight", "h", "g"])
        func values(_ n: String) throws -> [Float] {
            let t = try XCTUnwrap(f.tensor(n))
            var out = [Float](repeating: .nan, count: t.elementCount)
            try out.withUnsafeMutableBufferPointer { try f.read(t, into: $0) }
            return out
        }
        XCTAssertEqual(try values("a.weight").map(\.bitPattern), [1, -2, 0.5, .infinity, -0.0, 3.4028235e38].map { Float($0).bitPattern })
        XCTAssertEqual(try values("h"), [1, -2, 65504, 0x1p-24, -.infinity, 0x1p-14])
        XCTAssertEqual(try values("g"), [1, -3, 0x1p-133, 1.5])
        // A buffer too small, and a tensor of another file, are refused.
        let t = try XCTUnwrap(f.tensor("h"))
        var small = [Float](repeating: 0, count: 5)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer { try f.read(t, into: $0) })
        var b2 = SafeTensorsBuilder()
        b2.f32("h", [4, 4], [Float](repeating: 1, count: 16))
        let other = try SafeTensorsFile(path: dir.write("y.safetensors", b2.bytes()))
        var big = [Float](repeating: 0, count: 16)
        XCTAssertThrowsError(try big.withUnsafeMutableBufferPointer { try f.read(try XCTUnwrap(other.tensor("h")), into: $0) })
    }

    /// One malformed file per rule: the status, and a message naming the file and (where
    /// there is one) the tensor.
    func testEveryRefusal() throws {
        let dir = ScratchDir()
        var good = SafeTensorsBuilder()
        good.f32("w", [2, 2], [1, 2, 3, 4])
        good.f32("v", [3], [5, 6, 7])
        let g = good.bytes()
        let tail = Array(g[(g.count - 28)...])    // the 28 data bytes
        func header(_ h: String, data: [UInt8]? = nil) -> [UInt8] {
            var hb = Array(h.utf8)
            while hb.count % 8 != 0 { hb.append(0x20) }
            return SafeTensorsBuilder.le64(UInt64(hb.count)) + hb + (data ?? tail)
        }
        let w = "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"
        let cases: [(String, [UInt8], Status, String)] = [
            ("empty file", [], .badData, "too short"),
            ("7 bytes", [1, 2, 3, 4, 5, 6, 7], .badData, "too short"),
            ("header past the end", SafeTensorsBuilder.le64(4096) + Array("{}".utf8), .badData, "past the end"),
            ("header above 100 MB", SafeTensorsBuilder.le64(100_000_001) + [UInt8](repeating: 0x20, count: 64), .badData, "limit"),
            ("header length 2^64-1", SafeTensorsBuilder.le64(.max) + Array("{}".utf8), .badData, "limit"),
            ("not an object", header("[1,2]"), .badData, "JSON object"),
            ("invalid JSON", header("{\"w\":"), .badData, "not valid JSON"),
            ("duplicate names", header("{\(w),\(w)}"), .badData, "duplicate"),
            ("entry not an object", header("{\"w\":[1]}"), .badData, "'w'"),
            ("no dtype", header("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}"), .badData, "'w': dtype"),
            ("unknown dtype", header("{\"w\":{\"dtype\":\"F12\",\"shape\":[7],\"data_offsets\":[0,28]}}"), .notSupported, "'F12'"),
            ("negative dim", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-7],\"data_offsets\":[0,28]}}"), .badData, "'w': shape"),
            ("fractional dim", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[3.5],\"data_offsets\":[0,28]}}"), .badData, "'w': shape"),
            ("string dim", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"7\"],\"data_offsets\":[0,28]}}"), .badData, "'w': shape"),
            ("dim 2^60", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1152921504606846976],\"data_offsets\":[0,28]}}"), .badData, "'w'"),
            ("overflowing shape", header("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,28]}}"),
             .badData, "'w'"),
            ("element count × size too large", header("{\"w\":{\"dtype\":\"F64\",\"shape\":[1125899906842624],\"data_offsets\":[0,28]}}"),
             .badData, "'w'"),
            ("end before begin", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}"), .badData, "'w': data_offsets"),
            ("three offsets", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[7],\"data_offsets\":[0,14,28]}}"), .badData, "'w': data_offsets"),
            ("end past the data", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}"), .badData, "'w': data_offsets"),
            ("huge offsets", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[7],\"data_offsets\":[9007199254740000,9007199254740028]}}"),
             .badData, "'w'"),
            ("size not shape × dtype", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,28]}}"), .badData, "needs 24"),
            ("overlap", header("{\(w),\"v\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}"), .badData, "overlaps"),
            ("hole", header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"v\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}}"),
             .badData, "hole"),
            ("trailing bytes", header("{\(w),\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}"), .badData, "cover 24"),
            ("metadata not strings", header("{\"__metadata__\":{\"a\":1},\(w),\"v\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}}"),
             .badData, "__metadata__"),
        ]
        var refused = 0
        for (what, bytes, status, needle) in cases {
            let path = dir.write("bad.safetensors", bytes)
            do {
                _ = try SafeTensorsFile(path: path)
                XCTFail("accepted: \(what)")
            } catch let e as IBTPOError {
                refused += 1
                XCTAssertEqual(e.status, status, "\(what): \(e)")
                XCTAssertTrue(e.message.contains(path), "\(what): message lacks the path: \(e.message)")
                XCTAssertTrue(e.message.contains(needle), "\(what): message lacks '\(needle)': \(e.message)")
            }
        }
        // The well-formed file opens; a directory and a missing file are I/O errors.
        XCTAssertEqual(try SafeTensorsFile(path: dir.write("good.safetensors", g)).tensors.count, 2)
        for p in [dir.path, dir.path + "/missing.safetensors"] {
            XCTAssertThrowsError(try SafeTensorsFile(path: p)) { XCTAssertEqual(($0 as? IBTPOError)?.status, .io) }
        }
        print("safetensors refusals: \(refused) of \(cases.count) malformed files refused with the expected status")
    }

    /// ≥ 5,000 hostile variants of a small file, parsed from memory: truncations, byte flips
    /// in the header, absurd declared header lengths, and headers rewritten with hostile
    /// shapes, offsets and dtypes (larger than the file and than memory). Each must be refused
    /// with an IBTPOError, or accepted with every tensor inside the image and of the right size.
    func testFuzzedHeadersNeverCrash() throws {
        var b = SafeTensorsBuilder()
        b.metadata = ["format": "pt"]
        b.f32("model.embed_tokens.weight", [4, 3], (0..<12).map(Float.init))
        b.bf16("model.norm.weight", [3], [0x3F80, 0x4000, 0x4040])
        b.f16("lm_head.bias", [2], [0x3C00, 0x4000])
        b.add("step", "I64", [], [1, 0, 0, 0, 0, 0, 0, 0])
        let base = b.bytes()
        let headerLen = Int(base[0]) | Int(base[1]) << 8
        var rng = Rng(seed: 14)
        func rand(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
        var byStatus: [Status: Int] = [:], accepted = 0, total = 0
        func attempt(_ bytes: [UInt8]) {
            total += 1
            bytes.withUnsafeBytes { raw in
                do {
                    let (_, tensors) = try SafeTensorsFile.parse(raw, path: "fuzz.safetensors")
                    accepted += 1
                    for t in tensors {
                        XCTAssertLessThanOrEqual(t.fileOffset + t.byteCount, raw.count, t.name)
                        XCTAssertEqual(t.byteCount, t.elementCount * t.dtype.byteSize, t.name)
                        if t.dtype.isReadable && t.byteCount > 0 {
                            var out = [Float](repeating: 0, count: t.elementCount)
                            let src = UnsafeRawBufferPointer(rebasing: raw[t.fileOffset..<(t.fileOffset + t.byteCount)])
                            out.withUnsafeMutableBufferPointer { o in
                                let type: GGUFTensorType = t.dtype == .f32 ? .f32 : t.dtype == .f16 ? .f16 : .bf16
                                if t.dtype != .f64 { GGUFDequant.run(type, src, count: t.elementCount, into: o.baseAddress!) }
                            }
                        }
                    }
                } catch let e as IBTPOError {
                    byStatus[e.status, default: 0] += 1
                    XCTAssertTrue(e.message.hasPrefix("fuzz.safetensors: "), e.message)
                } catch {
                    XCTFail("not an IBTPOError: \(error)")
                }
            }
        }
        // 1. every truncation
        for n in 0..<base.count { attempt(Array(base[0..<n])) }
        // 2. one to three random bytes of the header changed
        for _ in 0..<2000 {
            var x = base
            for _ in 0...rand(3) { x[8 + rand(headerLen)] = UInt8(truncatingIfNeeded: rng.next()) }
            attempt(x)
        }
        // 3. printable-character flips (these keep the JSON closer to valid)
        let printable = Array("0123456789-+.eE,:[]{}\" FIBU".utf8)
        for _ in 0..<1000 {
            var x = base
            x[8 + rand(headerLen)] = printable[rand(printable.count)]
            attempt(x)
        }
        // 4. declared header lengths: near the true one, past the file, above the limit, huge
        let lengths: [UInt64] = [0, 1, 2, 7, UInt64(headerLen) - 1, UInt64(headerLen) + 1, UInt64(base.count),
                                 100_000_000, 100_000_001, 1 << 32, 1 << 53, 1 << 63, .max]
        for _ in 0..<500 {
            var x = base
            let v = rand(2) == 0 ? lengths[rand(lengths.count)] : rng.next() >> UInt64(rand(64))
            for k in 0..<8 { x[k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            attempt(x)
        }
        // 5. headers rewritten with hostile numbers and dtypes
        let numbers = ["0", "1", "-1", "3", "12", "48", "2147483648", "4294967296", "9007199254740992", "9007199254740993",
                       "18446744073709551616", "1e300", "1.5", "-0", "1e3", "\"7\"", "null", "true", "[]", "{}"]
        let dtypes = ["F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "F4", "", "f32", "Q4_0"]
        for _ in 0..<1600 {
            var parts: [String] = rand(4) == 0 ? ["\"__metadata__\":{\"k\":\(rand(2) == 0 ? "\"v\"" : numbers[rand(numbers.count)])}"] : []
            for k in 0..<(1 + rand(4)) {
                let shape = (0..<rand(4)).map { _ in numbers[rand(numbers.count)] }.joined(separator: ",")
                let offs = (0..<(rand(6) == 0 ? rand(4) : 2)).map { _ in rand(3) == 0 ? numbers[rand(numbers.count)] : String(rand(64)) }
                parts.append("\"t\(k)\":{\"dtype\":\"\(dtypes[rand(dtypes.count)])\",\"shape\":[\(shape)],\"data_offsets\":[\(offs.joined(separator: ","))]}")
            }
            let data = [UInt8](repeating: 0x3F, count: rand(2) == 0 ? 48 : rand(80))
            var hb = Array(("{" + parts.joined(separator: ",") + "}").utf8)
            while hb.count % 8 != 0 { hb.append(0x20) }
            attempt(SafeTensorsBuilder.le64(UInt64(hb.count)) + hb + data)
        }
        attempt(base)
        let refused = byStatus.values.reduce(0, +)
        print("safetensors fuzz: \(total) hostile images, \(refused) refused (" + byStatus.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.text) \($0.value)" }.joined(separator: ", ") + "), \(accepted) accepted with every tensor in range")
        XCTAssertGreaterThanOrEqual(total, 5000)
        XCTAssertEqual(refused + accepted, total)
        XCTAssertGreaterThan(accepted, 0)
    }

    func testShardedIndex() throws {
        let dir = ScratchDir()
        var a = SafeTensorsBuilder(), b = SafeTensorsBuilder()
        a.f32("x", [2], [1, 2]); a.f32("unlisted", [1], [9])
        b.f32("y", [3], [3, 4, 5])
        dir.write("model-00001-of-00002.safetensors", a.bytes())
        dir.write("model-00002-of-00002.safetensors", b.bytes())
        let index = dir.write("model.safetensors.index.json", """
            {"metadata": {"total_size": 20}, "weight_map": {"x": "model-00001-of-00002.safetensors",
             "y": "model-00002-of-00002.safetensors"}}
            """)
        let s = try SafeTensorsSet(index: index)
        XCTAssertEqual(s.names, ["x", "y"])
        XCTAssertEqual(s.files.count, 2)
        var y = [Float](repeating: 0, count: 3)
        try y.withUnsafeMutableBufferPointer { try s.read("y", into: $0) }
        XCTAssertEqual(y, [3, 4, 5])
        XCTAssertNil(s.tensor("unlisted"))
        XCTAssertThrowsError(try y.withUnsafeMutableBufferPointer { try s.read("z", into: $0) })

        let bad: [(String, String, Status, String)] = [
            ("not JSON", "{", .badData, "not valid JSON"),
            ("no weight_map", "{}", .badData, "weight_map"),
            ("empty map", "{\"weight_map\": {}}", .badData, "empty"),
            ("not a name", "{\"weight_map\": {\"x\": 3}}", .badData, "'x'"),
            ("escapes the directory", "{\"weight_map\": {\"x\": \"../model-00001-of-00002.safetensors\"}}", .badData, "plain file name"),
            ("absolute", "{\"weight_map\": {\"x\": \"/etc/passwd\"}}", .badData, "plain file name"),
            ("missing shard", "{\"weight_map\": {\"x\": \"nope.safetensors\"}}", .io, "nope.safetensors"),
            ("tensor not in its shard", "{\"weight_map\": {\"y\": \"model-00001-of-00002.safetensors\"}}", .badData, "'y'"),
        ]
        for (what, text, status, needle) in bad {
            let p = dir.write("bad.index.json", text)
            XCTAssertThrowsError(try SafeTensorsSet(index: p), what) { e in
                let e = e as? IBTPOError
                XCTAssertEqual(e?.status, status, "\(what): \(String(describing: e))")
                XCTAssertTrue(e?.message.contains(needle) == true, "\(what): \(String(describing: e))")
            }
        }
    }
}

/// Where the committed Hugging Face fixtures of these tests live (Tests/fixtures/hf), and the
/// pretrained-model fixtures of tools/fixtures/make_models.py (Tests/fixtures/models, or
/// $IBTPO_TEST_FIXTURE_MODELS) when they are there.
enum HFFixtures {
    static let tests: String = {
        var p = String(describing: #filePath)
        for _ in 0..<2 { p = String(p[..<(p.lastIndex(of: "/") ?? p.endIndex)]) }
        return p
    }()
    static var dir: String { tests + "/fixtures/hf" }
    static var models: String? {
        if let e = ProcessInfo.processInfo.environment["IBTPO_TEST_FIXTURE_MODELS"] { return e }
        let p = tests + "/fixtures/models"
        return FileManager.default.fileExists(atPath: p + "/manifest.json") ? p : nil
    }
}
