/// The element types libibtpo writes into safetensors files.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case f32 = "F32", bf16 = "BF16"

    public var byteCount: Int { self == .f32 ? 4 : 2 }
    /// The name PyTorch and config.json's `torch_dtype` use.
    public var torchName: String { self == .f32 ? "float32" : "bfloat16" }

    /// bfloat16 bits of `x`, rounded to nearest even as PyTorch's float → bfloat16 cast
    /// rounds (c10::BFloat16's round_to_nearest_even): every NaN becomes 0x7FC0, values
    /// past the largest bfloat16 become ±inf.
    @inline(__always) public static func bf16Bits(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7FC0 }
        let b = x.bitPattern
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }
}

/// Writes a safetensors file (the format of Hugging Face's `safetensors` package): u64
/// little-endian header length N, N bytes of JSON header padded with spaces so that the
/// data starts at a multiple of 8, then the tensors' bytes back to back, in the order given
/// (the format allows no gaps between them). The header maps each name to
/// {"dtype", "shape", "data_offsets": [begin, end]} (offsets from the data start) and holds
/// `__metadata__` (default {"format": "pt"}, which transformers expects).
public enum SafeTensorsWriter {
    /// One tensor: `count` = shape.reduce(1, *) floats at `data`, row-major (the last index
    /// fastest, PyTorch's order), borrowed for the duration of `write`.
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var data: UnsafePointer<Float>
        public init(name: String, shape: [Int], data: UnsafePointer<Float>) {
            self.name = name; self.shape = shape; self.data = data
        }
        public var count: Int { shape.reduce(1, *) }
    }

    /// Writes `tensors` as `dtype` to `path` atomically (see `AtomicFileWriter`); BF16
    /// rounds each value as `SafeTensorsDType.bf16Bits` does. `progress(done, total)` is
    /// called after each tensor with the data bytes written so far. Throws
    /// `.invalidArgument` for an empty or repeated name, the name "__metadata__", or a
    /// shape with a negative size; `.io` for the file.
    public static func write(path: String, tensors: [Tensor], dtype: SafeTensorsDType,
                             metadata: [(String, String)] = [("format", "pt")],
                             progress: ((Int, Int) -> Void)? = nil) throws {
        let header = try encodeHeader(tensors, dtype: dtype, metadata: metadata)
        let file = try AtomicFileWriter(path: path)
        var w = ByteWriter()
        w.u64(UInt64(header.count))
        try file.write(w.out)
        try file.write(header)
        let total = tensors.reduce(0) { $0 + $1.count * dtype.byteCount }
        var done = 0
        let chunk = 1 << 16
        let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: chunk * 4)
        defer { buf.deallocate() }
        for t in tensors {
            var i = 0
            let n = t.count
            while i < n {
                let m = min(chunk, n - i), src = t.data + i
                switch dtype {
                case .f32: for j in 0..<m { GGUFQuantize.put32(src[j].bitPattern, buf + 4 * j) }
                case .bf16: for j in 0..<m { GGUFQuantize.put16(SafeTensorsDType.bf16Bits(src[j]), buf + 2 * j) }
                }
                try file.write(UnsafeRawBufferPointer(start: buf, count: m * dtype.byteCount))
                i += m
            }
            done += n * dtype.byteCount
            progress?(done, total)
        }
        try file.commit()
    }

    /// The JSON header, padded with spaces to make 8 + its length a multiple of 8.
    static func encodeHeader(_ tensors: [Tensor], dtype: SafeTensorsDType, metadata: [(String, String)]) throws -> [UInt8] {
        var members: [(String, JSONDoc)] = []
        if !metadata.isEmpty { members.append(("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) }))) }
        var names = Set<String>()
        var offset = 0
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__", names.insert(t.name).inserted else {
                throw invalid("safetensors tensor name '\(t.name)' is empty, reserved or repeated")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("safetensors tensor \(t.name): shape \(t.shape) has a negative size") }
            let bytes = t.count * dtype.byteCount
            members.append((t.name, .object([("dtype", .string(dtype.rawValue)), ("shape", .array(t.shape.map { .int($0) })),
                                             ("data_offsets", .array([.int(offset), .int(offset + bytes)]))])))
            offset += bytes
        }
        var h = JSONDoc.object(members).serialized()
        while (8 + h.count) % 8 != 0 { h.append(UInt8(ascii: " ")) }
        return h
    }
}
