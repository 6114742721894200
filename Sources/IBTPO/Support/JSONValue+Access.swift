/// Typed views of a `JSONValue`: each returns nil for a value of another type, never traps.
extension JSONValue {
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var number: Double? { if case .number(let d) = self { return d } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { self == .null }

    /// The number as an Int when it is a whole number of magnitude at most 2^53 (every such
    /// integer is exact in a Double, so "1e3" and "1000.0" are 1000 but 2^60 is refused).
    public var int: Int? {
        guard case .number(let d) = self, d.rounded(.towardZero) == d, abs(d) <= 9_007_199_254_740_992 else { return nil }
        return Int(d)
    }
}
