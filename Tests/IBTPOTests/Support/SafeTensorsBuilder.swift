import Foundation
@testable import IBTPO

/// Builds safetensors images byte by byte for the tests (the layout of the format's spec:
/// u64 LE header length, JSON header, data), with knobs to break them.
struct SafeTensorsBuilder {
    struct Entry { var name: String; var dtype: String; var shape: [Int]; var data: [UInt8] }
    var entries: [Entry] = []
    var metadata: [String: String]?

    mutating func add(_ name: String, _ dtype: String, _ shape: [Int], _ data: [UInt8]) {
        entries.append(Entry(name: name, dtype: dtype, shape: shape, data: data))
    }
    mutating func f32(_ name: String, _ shape: [Int], _ v: [Float]) { add(name, "F32", shape, Self.le(v.map(\.bitPattern))) }
    mutating func bf16(_ name: String, _ shape: [Int], _ bits: [UInt16]) { add(name, "BF16", shape, Self.le16(bits)) }
    mutating func f16(_ name: String, _ shape: [Int], _ bits: [UInt16]) { add(name, "F16", shape, Self.le16(bits)) }

    /// The header JSON with the offsets of the entries laid end to end.
    func header() -> String {
        var parts: [String] = []
        if let m = metadata {
            parts.append("\"__metadata__\":{" + m.sorted { $0.key < $1.key }.map { "\(Self.quote($0.key)):\(Self.quote($0.value))" }
                .joined(separator: ",") + "}")
        }
        var at = 0
        for e in entries {
            parts.append("\(Self.quote(e.name)):{\"dtype\":\"\(e.dtype)\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(at),\(at + e.data.count)]}")
            at += e.data.count
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// The file: `header` (default: `header()`), padded with spaces to 8 bytes as the
    /// reference writer pads it, its length (or `declaredLength`), then the data.
    func bytes(header h: String? = nil, declaredLength: UInt64? = nil, extraData: [UInt8] = []) -> [UInt8] {
        var hb = Array((h ?? header()).utf8)
        while hb.count % 8 != 0 { hb.append(0x20) }
        var out = Self.le64(declaredLength ?? UInt64(hb.count))
        out += hb
        for e in entries { out += e.data }
        return out + extraData
    }

    static func quote(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case _ where u.value < 0x20: o += String(format: "\\u%04x", u.value)
            default: o.unicodeScalars.append(u)
            }
        }
        return o + "\""
    }
    static func le(_ v: [UInt32]) -> [UInt8] { v.flatMap { x in (0..<4).map { UInt8(truncatingIfNeeded: x >> (8 * $0)) } } }
    static func le16(_ v: [UInt16]) -> [UInt8] { v.flatMap { x in [UInt8(x & 0xFF), UInt8(x >> 8)] } }
    static func le64(_ x: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: x >> (8 * UInt64($0))) } }
}

/// A temporary directory removed (with its contents) when the object goes away.
final class ScratchDir {
    let path: String
    init(_ tag: String = "ibtpo-test") {
        path = NSTemporaryDirectory() + "/\(tag)-\(getpid())-\(UInt64.random(in: 0 ... .max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }
    func remove(_ name: String) { try? FileManager.default.removeItem(atPath: path + "/" + name) }
    func mkdir(_ name: String) -> String {
        let p = path + "/" + name
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}
