import Glibc
import XCTest
@testable import IBTPO

/// The file writers against independent encoders (Tests/fixtures/export/make_fixtures.py):
/// F16 bits against numpy, BF16 bits against torch, Q8_0 blocks against gguf-py's
/// bit-exact port of ggml's quantize_row_q8_0_ref, and a whole GGUF file against one gguf-py's
/// GGUFWriter wrote, byte for byte. Also the JSON writer, the safetensors layout, and bad
/// input refused with nothing left on disk.
final class WriterTests: XCTestCase {
    static let fixtures = GGUFTests.fixtures.replacingLast("gguf", with: "export")

    /// quant.bin: inputs and the reference encodings.
    struct Quant {
        var x: [Float] = [], f16: [UInt16] = [], bf16: [UInt16] = [], q8: [UInt8] = []
    }

    static func quant() throws -> Quant {
        let b = try FileIO.read(fixtures + "/quant.bin")
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        func u16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
        let n = Int(u32(0))
        var q = Quant()
        var o = 4
        for i in 0..<n { q.x.append(Float(bitPattern: u32(o + 4 * i))) }
        o += 4 * n
        for i in 0..<n { q.f16.append(u16(o + 2 * i)) }
        o += 2 * n
        for i in 0..<n { q.bf16.append(u16(o + 2 * i)) }
        o += 2 * n
        q.q8 = Array(b[o..<(o + n / 32 * 34)])
        XCTAssertEqual(o + n / 32 * 34, b.count, "quant.bin size")
        return q
    }

    func testF16AndBF16BitsMatchNumpyAndTorch() throws {
        let q = try Self.quant()
        var out = [UInt8](repeating: 0, count: 2 * q.x.count)
        XCTAssertNil(GGUFQuantize.run(.f16, q.x, count: q.x.count, into: &out))
        var f16Bad = 0, bfBad = 0
        for i in 0..<q.x.count {
            let got = UInt16(out[2 * i]) | UInt16(out[2 * i + 1]) << 8
            if got != q.f16[i] { f16Bad += 1; XCTFail("F16 of \(q.x[i]): got \(got), numpy \(q.f16[i])") }
            let bf = SafeTensorsDType.bf16Bits(q.x[i])
            if bf != q.bf16[i] { bfBad += 1; XCTFail("BF16 of \(q.x[i]): got \(bf), torch \(q.bf16[i])") }
        }
        print("F16: \(f16Bad) of \(q.x.count) values differ from numpy; BF16: \(bfBad) differ from torch")
        XCTAssertEqual(SafeTensorsDType.bf16Bits(.nan) & 0x7FC0, 0x7FC0, "NaN stays NaN")
        XCTAssertEqual(SafeTensorsDType.bf16Bits(.infinity), 0x7F80)
    }

    func testQ8_0BlocksMatchGGUFPy() throws {
        let q = try Self.quant()
        var out = [UInt8](repeating: 0, count: q.q8.count)
        XCTAssertNil(GGUFQuantize.run(.q8_0, q.x, count: q.x.count, into: &out))
        var bad = 0
        for b in 0..<(q.x.count / 32) where out[(34 * b)..<(34 * b + 34)] != q.q8[(34 * b)..<(34 * b + 34)] {
            bad += 1
            XCTFail("Q8_0 block \(b) differs from gguf.quants.quantize: \(Array(out[(34 * b)..<(34 * b + 34)])) vs "
                + "\(Array(q.q8[(34 * b)..<(34 * b + 34)]))")
        }
        print("Q8_0: \(bad) of \(q.x.count / 32) blocks differ from gguf-py (ties, zero block, fp16 overflow of d included)")
        var nanBlock = [Float](repeating: 1, count: 32)
        nanBlock[5] = .nan
        XCTAssertEqual(GGUFQuantize.run(.q8_0, nanBlock, count: 32, into: &out), 5, "a NaN is reported")
    }

    /// gguf-py's GGUFWriter and ours, given the same metadata and tensors, write the same bytes.
    func testGGUFFileMatchesGGUFPyWriterByteForByte() throws {
        let q = try Self.quant()
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("t.uint8", .uint8(200)); w.set("t.int8", .int8(-100))
        w.set("t.uint16", .uint16(60000)); w.set("t.int16", .int16(-30000))
        w.set("t.uint32", .uint32(4_000_000_000)); w.set("t.int32", .int32(-2_000_000_000))
        w.set("t.float32", .float32(1e-5)); w.set("t.bool", .bool(true))
        w.set("t.string", .string("héllo <|im_start|>\n"))
        w.set("t.uint64", .uint64(1 << 63 + 5)); w.set("t.int64", .int64(-(1 << 62)))
        w.set("t.float64", .float64(0.1))
        w.set("a.strings", .strings(["a", "Ġb", ""]))
        w.set("a.int32", .int32s([1, -2, 3]))
        w.set("a.float32", .array(.float32, [.float32(0.5), .float32(-1.25)]))
        w.set("a.nested", .array(.array, [.int32s([1, 2]), .int32s([3])]))
        let x = q.x
        w.tensors = [
            GGUFWriter.Tensor(name: "w.f32", dims: [64, 2], type: .f32) { p in for i in 0..<128 { p[i] = x[i] } },
            GGUFWriter.Tensor(name: "w.f16", dims: [32, 3], type: .f16) { p in for i in 0..<96 { p[i] = x[i] } },
            GGUFWriter.Tensor(name: "w.q8_0", dims: [64, 4], type: .q8_0) { p in for i in 0..<256 { p[i] = x[i] } },
        ]
        let dir = try TempDir()
        try w.write(path: dir.path + "/ours.gguf")
        let ours = try FileIO.read(dir.path + "/ours.gguf")
        let ref = try FileIO.read(Self.fixtures + "/writer_ref.gguf")
        let first = zip(ours, ref).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        print("GGUF writer vs gguf-py: \(ours.count) vs \(ref.count) bytes, first difference at \(first.map(String.init) ?? "none")")
        XCTAssertEqual(ours.count, ref.count)
        XCTAssertNil(first)
        // and our reader reads it back
        let g = try GGUFFile(path: dir.path + "/ours.gguf")
        XCTAssertEqual(g.metadata["t.uint64"], .uint(1 << 63 + 5))
        XCTAssertEqual(g.metadata["t.int16"], .int(-30000))
        XCTAssertEqual(g.metadata["a.nested"], .array([.array([.int(1), .int(2)]), .array([.int(3)])]))
        XCTAssertEqual(g.tensors.map(\.name), ["w.f32", "w.f16", "w.q8_0"])
    }

    func testGGUFWriterRefusesBadInputAndLeavesNothing() throws {
        let dir = try TempDir()
        let path = dir.path + "/bad.gguf"
        func refuse(_ w: GGUFWriter, _ what: String, _ status: Status = .invalidArgument) {
            XCTAssertThrowsError(try w.write(path: path), what) { e in
                XCTAssertEqual((e as? IBTPOError)?.status, status, "\(what): \(e)")
                print("refused (\(what)): \(e)")
            }
            XCTAssertEqual(dir.entries(), [], "\(what): nothing left in the directory")
        }
        let ok = GGUFWriter.Tensor(name: "t", dims: [32], type: .f32) { _ in }
        var w = GGUFWriter(); w.tensors = [ok, ok]; refuse(w, "repeated tensor name")
        w = GGUFWriter(); w.set("k", .bool(true)); w.set("k", .bool(false)); refuse(w, "repeated key")
        w = GGUFWriter(); w.set("k", .array(.int32, [.int32(1), .string("x")])); refuse(w, "mixed array")
        w = GGUFWriter(); w.tensors = [GGUFWriter.Tensor(name: "q", dims: [32], type: .q4_0) { _ in }]; refuse(w, "Q4_0 write")
        w = GGUFWriter(); w.tensors = [GGUFWriter.Tensor(name: "q", dims: [48], type: .q8_0) { _ in }]; refuse(w, "row of 48 in Q8_0")
        w = GGUFWriter(); w.tensors = [GGUFWriter.Tensor(name: "q", dims: [], type: .f32) { _ in }]; refuse(w, "no dims")
        w = GGUFWriter(); w.tensors = [GGUFWriter.Tensor(name: "q", dims: [32], type: .q8_0) { p in p[3] = .infinity }]
        refuse(w, "infinity in Q8_0")
        w = GGUFWriter(); w.tensors = [GGUFWriter.Tensor(name: "q", dims: [32], type: .f32) { _ in throw IBTPOError(.aborted, "stop") }]
        refuse(w, "fill throws", .aborted)
    }

    func testSafeTensorsLayout() throws {
        let q = try Self.quant()
        let dir = try TempDir()
        for dtype in SafeTensorsDType.allCases {
            let path = dir.path + "/m.\(dtype.rawValue).safetensors"
            try q.x.withUnsafeBufferPointer { x in
                guard let base = x.baseAddress else { return }
                try SafeTensorsWriter.write(path: path, tensors: [
                    .init(name: "a.weight", shape: [3, 5], data: base),
                    .init(name: "b", shape: [7], data: base + 15),
                    .init(name: "empty", shape: [0, 4], data: base),
                ], dtype: dtype)
            }
            let f = try RawSafeTensorsFile(path: path)
            let lib = try SafeTensorsFile(path: path)   // the library's reader accepts it
            XCTAssertEqual(lib.tensors.map(\.name), ["a.weight", "b", "empty"])
            XCTAssertEqual(lib.metadata, ["format": "pt"])
            XCTAssertEqual(f.dataStart % 8, 0, "data starts 8-aligned")
            XCTAssertEqual(f.header["__metadata__"], .object(["format": .string("pt")]))
            var worst = Worst("safetensors \(dtype.rawValue) data vs the encoder (exact)")
            for (name, shape, offset) in [("a.weight", [3, 5], 0), ("b", [7], 15), ("empty", [0, 4], 0)] {
                let got = try f.floats(name)
                XCTAssertEqual(f.shape(name), shape, name)
                for (i, v) in got.enumerated() {
                    let want = dtype == .f32 ? q.x[offset + i] : Float(bitPattern: UInt32(q.bf16[offset + i]) << 16)
                    worst.see(Double(v), Double(want), denom: 1, "\(name)[\(i)]")
                }
            }
            XCTAssertEqual(f.bytes.count, f.dataStart + 22 * dtype.byteCount, "no gaps, nothing after the data")
            worst.check(1e-300)
        }
        XCTAssertThrowsError(try SafeTensorsWriter.write(path: dir.path + "/x", tensors: [
            .init(name: "__metadata__", shape: [1], data: q.x)], dtype: .f32))
        XCTAssertEqual(dir.entries().filter { $0.hasPrefix("x") }, [])
    }

    func testJSONWriterRoundTripsThroughTheParser() throws {
        let doc = JSONDoc.object([
            ("s", .string("quote \" backslash \\ newline \n tab \t bell \u{07} é 東京 😀 \u{7F}")),
            ("ints", .array([.int(0), .int(-7), .int(49152), .int(Int(Int32.max))])),
            ("floats", .array([.float(1e-5), .float(100000), .float(0.1), .double(0.1), .double(1e300), .double(-2.5e-308)])),
            ("nan", .double(.nan)), ("flags", .array([.bool(true), .bool(false), .null])),
            ("nested", .object([("a", .array([])), ("b", .object([]))])),
        ])
        for indent in [0, 2] {
            let text = doc.serialized(indent: indent)
            let v = try JSONParser.parse(text)
            XCTAssertEqual(v["s"], .string("quote \" backslash \\ newline \n tab \t bell \u{07} é 東京 😀 \u{7F}"))
            XCTAssertEqual(v["ints"], .array([.number(0), .number(-7), .number(49152), .number(Double(Int32.max))]))
            XCTAssertEqual(v["floats"], .array([.number(1e-5), .number(100000), .number(0.1), .number(0.1),
                                                .number(1e300), .number(-2.5e-308)]))
            XCTAssertEqual(v["nan"], .null)
            XCTAssertEqual(v["nested"], .object(["a": .array([]), "b": .object([:])]))
        }
        // A parsed document written back parses to the same value.
        let parsed = try JSONParser.parse(#"{"b": [1, 2.5, "x\u00e9", null, true], "a": {"z": -0.001, "y": {}}}"#)
        XCTAssertEqual(try JSONParser.parse(JSONDoc(parsed).serialized()), parsed)
        let compact = String(decoding: JSONDoc.object([("eps", .float(1e-5)), ("n", .int(3)), ("t", .float(100000))]).serialized(),
                             as: UTF8.self)
        print("compact: \(compact)")
        XCTAssertEqual(compact, #"{"eps":1e-05,"n":3,"t":100000.0}"#)
    }
}

/// A fresh directory under /tmp, removed with its files when the object goes away.
final class TempDir {
    let path: String
    init() throws {
        var t = Array("/tmp/ibtpo-export-XXXXXX".utf8CString)
        guard let p = t.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw IBTPOError(.io, "mkdtemp failed")
        }
        path = String(cString: p)
    }
    func entries(_ sub: String = "") -> [String] {
        guard let d = opendir(path + sub) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let n = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if n != "." && n != ".." { out.append(n) }
        }
        return out.sorted()
    }
    deinit {
        for sub in entries() {
            for f in entries("/" + sub) { unlink(path + "/" + sub + "/" + f) }
            rmdir(path + "/" + sub)
            unlink(path + "/" + sub)
        }
        rmdir(path)
    }
}

/// A minimal safetensors reader for the tests: the raw header parsed with JSONParser (for the
/// layout checks the library's `SafeTensorsFile` does not expose), F32 and BF16 data as float32.
struct RawSafeTensorsFile {
    let bytes: [UInt8]
    let header: JSONValue
    let dataStart: Int

    init(path: String) throws {
        bytes = try FileIO.read(path)
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        header = try JSONParser.parse(bytes[8..<(8 + n)])
        dataStart = 8 + n
    }
    var names: [String] {
        guard case .object(let o) = header else { return [] }
        return o.keys.filter { $0 != "__metadata__" }.sorted()
    }
    func shape(_ name: String) -> [Int]? {
        guard case .array(let a)? = header[name]?["shape"] else { return nil }
        return a.compactMap { if case .number(let d) = $0 { return Int(d) } else { return nil } }
    }
    func floats(_ name: String) throws -> [Float] {
        guard case .array(let off)? = header[name]?["data_offsets"], off.count == 2,
              case .number(let a) = off[0], case .number(let b) = off[1],
              case .string(let dt)? = header[name]?["dtype"] else { throw IBTPOError(.badData, "no tensor \(name)") }
        let s = dataStart + Int(a), e = dataStart + Int(b)
        var out: [Float] = []
        if dt == "F32" {
            for o in stride(from: s, to: e, by: 4) {
                out.append(Float(bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16
                    | UInt32(bytes[o + 3]) << 24))
            }
        } else {
            for o in stride(from: s, to: e, by: 2) { out.append(Float(bitPattern: (UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8) << 16)) }
        }
        return out
    }
}

extension String {
    func replacingLast(_ a: String, with b: String) -> String {
        guard hasSuffix(a) else { return self }
        return String(dropLast(a.count)) + b
    }
}
