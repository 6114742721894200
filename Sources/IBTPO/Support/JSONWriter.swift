/// A JSON document to write (RFC 8259), with object members in the order given: the files
/// other tools read (config.json, tokenizer.json, a safetensors header) are written from it.
/// Integers stay integers ("49152", never "49152.0"); a `Float` prints as its shortest
/// decimal ("1e-05" for 1e-5f), so a value read as float32 and written back parses to the
/// number a human wrote. Non-finite numbers, which JSON cannot hold, are written as null.
public indirect enum JSONDoc: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Float)
    case double(Double)
    case string(String)
    case array([JSONDoc])
    case object([(String, JSONDoc)])

    /// A parsed value, object members sorted by their UTF-8 bytes (JSONObject keeps no order).
    public init(_ v: JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let d):
            if let i = Int(exactly: d), abs(d) < 1e15 { self = .int(i) } else { self = .double(d) }
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSONDoc.init))
        case .object(let o):
            let sorted = o.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            self = .object(sorted.map { ($0.key, JSONDoc($0.value)) })
        }
    }

    /// The UTF-8 text: compact when `indent` is 0, else one member or element per line,
    /// nested by `indent` spaces (arrays of scalars only included), ending without a newline.
    public func serialized(indent: Int = 0) -> [UInt8] {
        var w = JSONWriter(indent: indent)
        w.write(self, depth: 0)
        return w.out
    }
}

/// Appends JSON text to a byte buffer (see `JSONDoc.serialized`).
struct JSONWriter {
    var out: [UInt8] = []
    let indent: Int

    init(indent: Int = 0) { self.indent = max(0, indent) }

    mutating func write(_ v: JSONDoc, depth: Int) {
        switch v {
        case .null: ascii("null")
        case .bool(let b): ascii(b ? "true" : "false")
        case .int(let i): ascii(String(i))
        // Swift's shortest round-trip text ("1e-05", "100000.0", "5e-324") is valid JSON.
        case .float(let f): ascii(f.isFinite ? f.description : "null")
        case .double(let d): ascii(d.isFinite ? d.description : "null")
        case .string(let s): JSONWriter.appendString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                write(e, depth: depth + 1)
            }
            if !a.isEmpty { newline(depth) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (k, e)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                JSONWriter.appendString(k, to: &out)
                out.append(UInt8(ascii: ":"))
                if indent > 0 { out.append(UInt8(ascii: " ")) }
                write(e, depth: depth + 1)
            }
            if !members.isEmpty { newline(depth) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private mutating func newline(_ depth: Int) {
        guard indent > 0 else { return }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * indent))
    }

    private mutating func ascii(_ s: String) { out.append(contentsOf: s.utf8) }

    /// `s` as a JSON string literal: quotes, backslash and control characters escaped
    /// (\n, \t, … or \u00XX); everything else, non-ASCII included, as its UTF-8 bytes.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
