/// A GGUF file (versions 2 and 3), memory-mapped and parsed: its metadata and its tensor
/// directory. Every count, length, shape and offset is checked against the file's size before
/// it is used, so a truncated or hostile file fails with `.badData` naming the path and what
/// is wrong, and nothing is allocated from an unchecked count. Tensor data is not copied:
/// `dequantize(_:into:)` reads it from the mapping.
///
/// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count; the
/// metadata (string key, u32 type, value); the tensor infos (string name, u32 n_dims,
/// u64 dims[n_dims] with dims[0] the fastest-varying, u32 type, u64 offset); padding to
/// `general.alignment` (default 32); the tensor data, each tensor at its aligned offset.
public final class GGUFFile {
    /// One entry of the tensor directory. `dims[0]` is the row length (fastest index), so a
    /// PyTorch (out × in) weight has dims [in, out].
    public struct Tensor: Sendable {
        public let name: String
        public let dims: [Int]
        public let type: GGUFTensorType
        /// Offset of the data in the file, and its size in bytes.
        public let fileOffset: Int
        public let byteCount: Int
        public var elementCount: Int { dims.reduce(1, *) }
    }

    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let keys: [String]
    public let tensors: [Tensor]
    let file: MappedFile
    private let index: [String: Int]

    /// Maps and parses `path`. Throws `.io` (cannot open, not a regular file) or `.badData`.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        self.file = file
        self.path = path
        var r = GGUFCursor(bytes: file.bytes, path: path)
        let magic = try r.u32()
        guard magic == 0x4655_4747 else { throw r.bad("not a GGUF file (magic \(hex(magic)))", at: 0) }
        let version = try r.u32()
        guard version == 2 || version == 3 else {
            throw r.bad("GGUF version \(version) is not supported (2 and 3 are)", at: 4)
        }
        self.version = Int(version)
        let tensorCount = try r.count(minBytesEach: 24, what: "tensor count")
        let kvCount = try r.count(minBytesEach: 13, what: "metadata count")
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<kvCount {
            let at = r.pos
            let key = try r.string()
            let value = try r.value(type: try r.u32(), depth: 0)
            guard metadata[key] == nil else { throw r.bad("metadata key '\(key)' appears twice", at: at) }
            metadata[key] = value
            keys.append(key)
        }
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v <= 1 << 16, v & (v - 1) == 0 else {
                throw r.bad("general.alignment must be a power of two up to 65536", at: r.pos)
            }
            alignment = v
        }
        struct Info { var name: String; var dims: [Int]; var type: GGUFTensorType; var offset: Int; var at: Int }
        var infos: [Info] = []
        for _ in 0..<tensorCount {
            let at = r.pos
            let name = try r.string()
            let nd = try r.u32()
            guard nd >= 1 && nd <= 4 else { throw r.bad("tensor '\(name)' has \(nd) dimensions (1 to 4 allowed)", at: at) }
            var dims: [Int] = []
            var elements = 1
            for _ in 0..<nd {
                let d = try r.u64()
                guard d >= 1 && d <= UInt64(Int32.max) else { throw r.bad("tensor '\(name)' has a dimension of \(d)", at: at) }
                dims.append(Int(d))
                let (e, o) = elements.multipliedReportingOverflow(by: Int(d))
                guard !o && e <= 1 << 40 else { throw r.bad("tensor '\(name)' is impossibly large", at: at) }
                elements = e
            }
            let rawType = try r.u32()
            guard let type = GGUFTensorType(rawValue: rawType) else {
                throw r.bad("tensor '\(name)' has ggml type \(rawType), which libibtpo does not read "
                    + "(supported: \(GGUFTensorType.allCases.map(\.name).joined(separator: ", ")))", at: at)
            }
            guard dims[0] % type.blockElements == 0 else {
                throw r.bad("tensor '\(name)': row length \(dims[0]) is not a multiple of \(type.name)'s block "
                    + "of \(type.blockElements)", at: at)
            }
            let offset = try r.u64()
            guard offset <= UInt64(Int.max), Int(offset) % alignment == 0 else {
                throw r.bad("tensor '\(name)': data offset \(offset) is not a multiple of the alignment \(alignment)", at: at)
            }
            infos.append(Info(name: name, dims: dims, type: type, offset: Int(offset), at: at))
        }
        let dataStart = (r.pos + alignment - 1) / alignment * alignment
        var tensors: [Tensor] = []
        var index: [String: Int] = [:]
        for info in infos {
            let bytes = info.dims.reduce(1, *) / info.type.blockElements * info.type.blockBytes
            let start = dataStart + info.offset
            let (end, o) = start.addingReportingOverflow(bytes)
            guard !o && end <= file.bytes.count else {
                throw r.bad("tensor '\(info.name)' (\(info.type.name), \(info.dims)) needs bytes \(start)..<\(end), "
                    + "but the file has \(file.bytes.count)", at: info.at)
            }
            guard index[info.name] == nil else { throw r.bad("tensor '\(info.name)' appears twice", at: info.at) }
            index[info.name] = tensors.count
            tensors.append(Tensor(name: info.name, dims: info.dims, type: info.type, fileOffset: start, byteCount: bytes))
        }
        self.metadata = metadata
        self.keys = keys
        self.tensors = tensors
        self.index = index
    }

    /// The tensor called `name`, or nil.
    public func tensor(_ name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// The raw bytes of `t` (valid while this object lives).
    public func data(_ t: Tensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[t.fileOffset..<(t.fileOffset + t.byteCount)])
    }

    /// Dequantises all of `t` to float32 into `out` (at least `t.elementCount` floats), in the
    /// file's order (row-major with dims[0] fastest). Throws `.invalidArgument` if `out` is
    /// too small; never reads outside the tensor.
    public func dequantize(_ t: Tensor, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = out.baseAddress, out.count >= t.elementCount else {
            throw invalid("dequantize \(t.name): output holds \(out.count) floats, the tensor has \(t.elementCount)")
        }
        GGUFDequant.run(t.type, data(t), count: t.elementCount, into: base)
    }
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

/// Bounds-checked little-endian reader over a GGUF file's bytes; errors are `.badData` with
/// the path and the byte offset.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var pos = 0

    func bad(_ what: String, at: Int) -> IBTPOError { IBTPOError(.badData, "\(path): \(what) (at byte \(at))") }

    mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0 && n <= bytes.count - pos else {
            throw bad("truncated: \(n) more bytes needed, \(bytes.count - pos) left", at: pos)
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }
    mutating func le(_ n: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * i) }
        return v
    }
    mutating func u32() throws -> UInt32 { UInt32(try le(4)) }
    mutating func u64() throws -> UInt64 { try le(8) }

    /// A u64 count whose items take at least `minBytesEach` bytes each: refused when the rest
    /// of the file could not hold them.
    mutating func count(minBytesEach: Int, what: String) throws -> Int {
        let at = pos
        let c = try u64()
        guard c <= UInt64((bytes.count - pos) / max(1, minBytesEach)) else {
            throw bad("\(what) \(c) cannot fit in the \(bytes.count - pos) bytes left", at: at)
        }
        return Int(c)
    }

    mutating func string() throws -> String {
        let at = pos
        let n = try count(minBytesEach: 1, what: "string length")
        let b = try take(n)
        guard UTF8Check.firstInvalidOffset(Array(b)) == nil else { throw bad("a string is not valid UTF-8", at: at) }
        return String(decoding: b, as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        let at = pos
        switch type {
        case 0: return .uint(try le(1))
        case 1: return .int(Int64(Int8(truncatingIfNeeded: try le(1))))
        case 2: return .uint(try le(2))
        case 3: return .int(Int64(Int16(truncatingIfNeeded: try le(2))))
        case 4: return .uint(try le(4))
        case 5: return .int(Int64(Int32(truncatingIfNeeded: try le(4))))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7:
            let b = try le(1)
            guard b <= 1 else { throw bad("a bool holds \(b)", at: at) }
            return .bool(b == 1)
        case 8: return .string(try string())
        case 9:
            guard depth < 2 else { throw bad("arrays nested more than two deep", at: at) }
            let et = try u32()
            let minBytes: Int
            switch et {
            case 0, 1, 7: minBytes = 1
            case 2, 3: minBytes = 2
            case 4, 5, 6: minBytes = 4
            case 10, 11, 12, 8, 9: minBytes = 8
            default: throw bad("array of unknown type \(et)", at: at)
            }
            let n = try count(minBytesEach: minBytes, what: "array length")
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(type: et, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint(try u64())
        case 11: return .int(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw bad("metadata value of unknown type \(type)", at: at)
        }
    }
}
