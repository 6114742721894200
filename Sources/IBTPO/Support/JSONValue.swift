/// A JSON value (RFC 8259). Objects are unordered; the parser rejects duplicate keys rather
/// than silently keeping one of them.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member `key` of an object (matched by its exact scalar sequence), or nil (also for non-objects).
    public subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { return members[key] }
        return nil
    }

    /// A short name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// The members of a JSON object. Keys are compared by their exact Unicode scalar sequence
/// (their UTF-8 bytes), as RFC 8259 compares names, not by Swift's canonical equivalence:
/// "\u00e9" (NFC é) and "e\u0301" (NFD é) are two different keys. Iterates as
/// (key, value) pairs in no particular order.
public struct JSONObject: Equatable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// A key as its UTF-8 bytes (hashing and equality by bytes).
    struct ExactKey: Hashable, Sendable {
        let utf8: [UInt8]
        init(_ s: String) { utf8 = Array(s.utf8) }
    }
    private var members: [ExactKey: (key: String, value: JSONValue)] = [:]

    public typealias Key = String
    public typealias Value = JSONValue

    public init() {}
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (k, v) in elements { _ = insert(k, v) }
    }

    public var count: Int { members.count }
    public var keys: [String] { members.values.map { $0.key } }

    /// The value of the member whose key has exactly the scalars of `key`.
    public subscript(key: String) -> JSONValue? { members[ExactKey(key)]?.value }

    /// Adds a member; false (and no change) if a member with exactly this key exists.
    mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
        let k = ExactKey(key)
        guard members[k] == nil else { return false }
        members[k] = (key, value)
        return true
    }

    public func makeIterator() -> AnyIterator<(key: String, value: JSONValue)> {
        var it = members.values.makeIterator()
        return AnyIterator { it.next() }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count && a.members.allSatisfy { k, m in b.members[k]?.value == m.value }
    }
}

/// A JSON syntax error at a 0-based byte offset of the input.
public struct JSONParseError: Error, Equatable, CustomStringConvertible, Sendable {
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset + 1)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes. No extensions: no comments, no trailing commas,
/// no single quotes, no NaN/Infinity, no leading zeros, no unescaped control characters in
/// strings, no lone surrogates in \u escapes. Numbers must be finite as Double. Nesting is
/// limited to `maxDepth` so hostile input cannot overflow the stack. Whitespace around the
/// value (space, tab, CR, LF) is allowed; anything else after it is an error.
public struct JSONParser {
    public static let maxDepth = 256

    /// Parses one JSON text. Throws `JSONParseError` (invalid UTF-8 included).
    public static func parse<C: Collection>(_ input: C) throws -> JSONValue where C.Element == UInt8 {
        let bytes = Array(input)
        if let bad = UTF8Check.firstInvalidOffset(bytes) {
            throw JSONParseError(offset: bad, message: "invalid UTF-8")
        }
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// Parses one JSON text from a string.
    public static func parse(_ text: String) throws -> JSONValue { try parse(Array(text.utf8)) }

    private let bytes: [UInt8]
    private var pos = 0

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? pos, message: message)
    }

    private var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { pos += 1 }
    }

    private mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
        let start = pos
        for b in literal.utf8 {
            guard current == b else { throw error("invalid literal (expected '\(literal)')", at: start) }
            pos += 1
        }
        return value
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard let b = current else { throw error("unexpected end of input, expected a value") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character '\(printable(b))', expected a value")
        }
    }

    private func printable(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth)") }
        pos += 1   // {
        var members = JSONObject()
        skipWhitespace()
        if current == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key in object") }
            let keyStart = pos
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after object key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard members.insert(key, value) else {
                throw error("duplicate key \"\(key)\" in object", at: keyStart)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "}"): pos += 1; return .object(members)
            case nil: throw error("unexpected end of input, expected ',' or '}'")
            default: throw error("expected ',' or '}' in object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth)") }
        pos += 1   // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { pos += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "]"): pos += 1; return .array(elements)
            case nil: throw error("unexpected end of input, expected ',' or ']'")
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard bytes.count - pos >= 4 else { throw error("incomplete \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    private mutating func parseString() throws -> String {
        let start = pos
        pos += 1   // opening quote
        var out: [UInt8] = []
        while true {
            guard let b = current else { throw error("unterminated string", at: start) }
            switch b {
            case UInt8(ascii: "\""):
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                let escStart = pos
                pos += 1
                guard let e = current else { throw error("unterminated string", at: start) }
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if code >= 0xD800 && code <= 0xDBFF {
                        guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw error("high surrogate \\u escape not followed by a low surrogate", at: escStart)
                        }
                        pos += 2
                        let low = try parseHex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else {
                            throw error("high surrogate \\u escape not followed by a low surrogate", at: escStart)
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if code >= 0xDC00 && code <= 0xDFFF {
                        throw error("lone low surrogate in \\u escape", at: escStart)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape", at: escStart) }
                    out.append(contentsOf: UTF8.encode(scalar).map { Array($0) } ?? [])
                default:
                    throw error("invalid escape '\\\(printable(e))' in string", at: escStart)
                }
            case 0x00..<0x20:
                throw error("unescaped control character \\x\(String(b, radix: 16)) in string")
            default:
                out.append(b)
                pos += 1
            }
        }
    }

    private mutating func digits() -> Int {
        let s = pos
        while let b = current, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { pos += 1 }
        return pos - s
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = pos
        if current == UInt8(ascii: "-") { pos += 1 }
        if current == UInt8(ascii: "0") {
            pos += 1
            if let b = current, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { throw error("leading zero in number", at: start) }
        } else if digits() == 0 {
            throw error("invalid number", at: start)
        }
        if current == UInt8(ascii: ".") {
            pos += 1
            guard digits() > 0 else { throw error("expected digits after '.' in number") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            pos += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { pos += 1 }
            guard digits() > 0 else { throw error("expected digits in number exponent") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("number out of range", at: start) }
        return .number(value)
    }
}
