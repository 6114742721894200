/// One metadata value of a GGUF file (format v2/v3). Arrays keep their element type; the
/// accessors return nil for a value of another type, never trap.
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)     // UINT8, UINT16, UINT32, UINT64 (and BOOL as 0/1 is `bool`)
    case int(Int64)       // INT8, INT16, INT32, INT64
    case float(Double)    // FLOAT32, FLOAT64
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// An integer value of either signedness, if it fits in Int.
    public var int: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(exactly: v)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }
}
