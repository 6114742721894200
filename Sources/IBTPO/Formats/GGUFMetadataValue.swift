/// The value types of GGUF metadata (ids as in the GGUF spec / gguf.GGUFValueType).
public enum GGUFValueType: UInt32, CaseIterable, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// One metadata value to write, with its exact GGUF type (llama.cpp checks the types of
/// the keys it reads: `llama.context_length` must be UINT32, not UINT64). `GGUFValue` is
/// what the reader returns, with the widths folded; this keeps them.
public indirect enum GGUFMetadataValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// An array whose elements are all of `GGUFValueType` (nested arrays allowed one level,
    /// as the reader accepts).
    case array(GGUFValueType, [GGUFMetadataValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    /// A string array.
    public static func strings(_ s: [String]) -> GGUFMetadataValue { .array(.string, s.map { .string($0) }) }
    /// An INT32 array.
    public static func int32s(_ v: [Int32]) -> GGUFMetadataValue { .array(.int32, v.map { .int32($0) }) }

    /// Throws `.invalidArgument` naming `key` when an array holds an element of another
    /// type than it declares, or arrays are nested more than two deep.
    func validate(key: String, depth: Int = 0) throws {
        guard case .array(let t, let items) = self else { return }
        guard depth < 2 else { throw invalid("GGUF metadata \(key): arrays nested more than two deep") }
        for (i, v) in items.enumerated() {
            guard v.type == t else {
                throw invalid("GGUF metadata \(key): element \(i) is \(v.type), the array holds \(t)")
            }
            try v.validate(key: key, depth: depth + 1)
        }
    }

    /// Appends the value (without its type tag) in GGUF's little-endian layout.
    func encode(into w: inout ByteWriter) {
        switch self {
        case .uint8(let v): w.out.append(v)
        case .int8(let v): w.out.append(UInt8(bitPattern: v))
        case .uint16(let v): w.out += [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)]
        case .int16(let v): GGUFMetadataValue.uint16(UInt16(bitPattern: v)).encode(into: &w)
        case .uint32(let v): w.u32(v)
        case .int32(let v): w.u32(UInt32(bitPattern: v))
        case .float32(let v): w.f32(v)
        case .bool(let v): w.out.append(v ? 1 : 0)
        case .string(let s): GGUFMetadataValue.encodeString(s, into: &w)
        case .uint64(let v): w.u64(v)
        case .int64(let v): w.i64(v)
        case .float64(let v): w.u64(v.bitPattern)
        case .array(let t, let items):
            // element type, count, then each element without a type tag (a nested array's
            // "untagged" form is again its element type, count and elements)
            w.u32(t.rawValue)
            w.u64(UInt64(items.count))
            for v in items { v.encode(into: &w) }
        }
    }

    /// GGUF string: u64 byte length, UTF-8 bytes.
    static func encodeString(_ s: String, into w: inout ByteWriter) {
        let b = Array(s.utf8)
        w.u64(UInt64(b.count))
        w.bytes(b)
    }
}
