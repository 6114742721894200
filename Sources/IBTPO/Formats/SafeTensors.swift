/// A safetensors file, memory-mapped and its header checked (the format of Hugging Face's
/// `safetensors`): u64 little-endian header length N, N bytes of JSON mapping each tensor
/// name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data that
/// follows the header) plus an optional "__metadata__" object of strings, then the data.
///
/// Opening refuses, with `.badData` naming the file and the tensor: a header length beyond
/// the file or above 100 MB (the reference implementation's limit), a header that is not a
/// JSON object, a shape whose element or byte count overflows, offsets out of order or out
/// of the file, a byte range that does not match shape × dtype size, and data that does not
/// exactly tile the rest of the file (overlaps and holes, as the reference refuses them). An
/// unknown dtype is `.notSupported`. Nothing is allocated from an unchecked size, and tensor
/// data is never copied until `read` converts it.
public final class SafeTensorsFile {
    /// Element types of the safetensors format (the names its header uses). libibtpo converts
    /// the float types F32, F16, BF16 and F64 to float32; the others are parsed, so that a file
    /// holding them still opens, and refused when read.
    public enum DType: String, CaseIterable, Sendable {
        case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
        case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
        case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
            case .i16, .u16, .f16, .bf16: return 2
            case .i32, .u32, .f32: return 4
            case .f64, .i64, .u64: return 8
            }
        }

        /// Whether `SafeTensorsFile.read` converts this type to float32.
        public var isReadable: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
    }

    /// One tensor of the header. `shape` is row-major (the last index fastest), as PyTorch's.
    public struct Tensor: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Offset of the data in the file, and its size in bytes (elementCount · dtype size).
        public let fileOffset: Int
        public let byteCount: Int
        public let elementCount: Int
    }

    /// The reference implementation's bound on the header (`MAX_HEADER_SIZE`).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// The "__metadata__" strings (empty when absent).
    public let metadata: [String: String]
    /// The tensors in data order.
    public let tensors: [Tensor]
    private let file: MappedFile
    private let index: [String: Int]

    /// Maps and checks `path`. Throws `.io` (cannot open, not a regular file), `.badData` or
    /// `.notSupported` as described above.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        let (metadata, tensors) = try Self.parse(file.bytes, path: path)
        self.file = file
        self.path = path
        self.metadata = metadata
        self.tensors = tensors
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// The tensor called `name`, or nil.
    public func tensor(_ name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// The raw little-endian bytes of `t` (valid while this object lives). Throws
    /// `.invalidArgument` when `t` is not a tensor of this file.
    public func data(_ t: Tensor) throws -> UnsafeRawBufferPointer {
        guard let i = index[t.name], tensors[i].fileOffset == t.fileOffset, tensors[i].byteCount == t.byteCount else {
            throw invalid("\(path): tensor \(t.name) is not a tensor of this file")
        }
        return UnsafeRawBufferPointer(rebasing: file.bytes[t.fileOffset..<(t.fileOffset + t.byteCount)])
    }

    /// Converts all of `t` to float32 into `out` (at least `t.elementCount` floats), in the
    /// file's row-major order; F32 is copied bit for bit, F16 and BF16 widen exactly, F64
    /// rounds to nearest. Throws `.notSupported` for the other dtypes (naming the file and the
    /// tensor), `.invalidArgument` when `out` is too small or `t` is not of this file.
    public func read(_ t: Tensor, into out: UnsafeMutableBufferPointer<Float>) throws {
        let src = try data(t)
        guard out.count >= t.elementCount, let dst = out.baseAddress else {
            if t.elementCount == 0 { return }
            throw invalid("\(path): read \(t.name): output holds \(out.count) floats, the tensor has \(t.elementCount)")
        }
        switch t.dtype {
        case .f32: GGUFDequant.run(.f32, src, count: t.elementCount, into: dst)
        case .f16: GGUFDequant.run(.f16, src, count: t.elementCount, into: dst)
        case .bf16: GGUFDequant.run(.bf16, src, count: t.elementCount, into: dst)
        case .f64:
            guard let s = src.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            for i in 0..<t.elementCount {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(s[8 * i + k]) << (8 * UInt64(k)) }
                dst[i] = Float(Double(bitPattern: bits))
            }
        default:
            throw IBTPOError(.notSupported, "\(path): tensor \(t.name) has dtype \(t.dtype.rawValue); libibtpo reads "
                + "F32, F16, BF16 and F64 weights")
        }
    }

    // MARK: the header

    /// Parses and checks the header of a safetensors image `bytes` (the whole file); errors
    /// name `path`. Exposed to the tests so that hostile headers need no file each.
    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> ([String: String], [Tensor]) {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badData, "\(path): \(m)") }
        guard bytes.count >= 8 else { throw bad("\(bytes.count) bytes is too short for a safetensors file (8-byte header length)") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw bad("header length \(n) is above the limit of \(maxHeaderBytes) bytes (not a safetensors file?)")
        }
        guard n <= UInt64(bytes.count - 8) else {
            throw bad("header length \(n) runs past the end of the file (\(bytes.count) bytes)")
        }
        let headerEnd = 8 + Int(n)
        guard n >= 2, bytes[8] == UInt8(ascii: "{") else { throw bad("the header does not start with a JSON object") }
        let json: JSONValue
        do {
            json = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<headerEnd]))
        } catch let e as JSONParseError {
            throw bad("the header is not valid JSON: \(e.message) at header byte \(e.offset)")
        }
        guard let top = json.object else { throw bad("the header is not a JSON object") }
        let dataSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var tensors: [Tensor] = []
        var begins: [Int] = []
        for (name, v) in top {
            if name == "__metadata__" {
                guard let m = v.object else { throw bad("__metadata__ is a \(v.typeName), not an object of strings") }
                for (k, s) in m {
                    guard let s = s.string else { throw bad("__metadata__ entry '\(k)' is a \(s.typeName), not a string") }
                    metadata[k] = s
                }
                continue
            }
            func badT(_ m: String) -> IBTPOError { bad("tensor '\(name)': \(m)") }
            guard let o = v.object else { throw badT("its entry is a \(v.typeName), not an object") }
            guard let ds = o["dtype"]?.string else { throw badT("dtype is missing or not a string") }
            guard let dtype = DType(rawValue: ds) else {
                throw IBTPOError(.notSupported, "\(path): tensor '\(name)' has dtype '\(ds)', which libibtpo does not know "
                    + "(it reads F32, F16, BF16 and F64)")
            }
            guard let dims = o["shape"]?.array else { throw badT("shape is missing or not an array") }
            guard dims.count <= 16 else { throw badT("shape has \(dims.count) dimensions (at most 16 allowed)") }
            var shape: [Int] = []
            var elements = 1
            for d in dims {
                guard let k = d.int, k >= 0 else { throw badT("shape entry \(d) is not a non-negative integer") }
                let (e, o) = elements.multipliedReportingOverflow(by: k)
                guard !o, e <= 1 << 50 else { throw badT("shape \(dims.map { $0.number ?? -1 }) has an impossible element count") }
                shape.append(k)
                elements = e
            }
            let (nbytes, o2) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !o2 else { throw badT("shape \(shape) × \(dtype.byteSize) bytes overflows") }
            guard let offs = o["data_offsets"]?.array, offs.count == 2,
                  let begin = offs[0].int, let end = offs[1].int, begin >= 0, end >= begin else {
                throw badT("data_offsets must be [begin, end] with 0 ≤ begin ≤ end")
            }
            guard end <= dataSize else {
                throw badT("data_offsets [\(begin), \(end)] run past the \(dataSize) data bytes of the file")
            }
            guard end - begin == nbytes else {
                throw badT("data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but \(dtype.rawValue) \(shape) "
                    + "needs \(nbytes)")
            }
            tensors.append(Tensor(name: name, dtype: dtype, shape: shape, fileOffset: headerEnd + begin,
                                  byteCount: nbytes, elementCount: elements))
            begins.append(begin)
        }
        // The data must be tiled exactly: sorted by offset, each tensor starts where the
        // previous ended, and the last ends at the end of the file.
        let order = begins.indices.sorted { (begins[$0], tensors[$0].byteCount, tensors[$0].name) < (begins[$1], tensors[$1].byteCount, tensors[$1].name) }
        var at = 0
        var sorted: [Tensor] = []
        sorted.reserveCapacity(tensors.count)
        for i in order {
            let t = tensors[i]
            guard begins[i] == at else {
                throw bad(begins[i] < at ? "tensor '\(t.name)' overlaps the tensor before it (data byte \(begins[i]) < \(at))"
                    : "the data has a hole before tensor '\(t.name)' (bytes \(at)..<\(begins[i]) belong to no tensor)")
            }
            at += t.byteCount
            sorted.append(t)
        }
        guard at == dataSize else {
            throw bad("the tensors cover \(at) data bytes, but the file holds \(dataSize) after the header")
        }
        return (metadata, sorted)
    }
}
