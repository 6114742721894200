/// Writes a GGUF v3 file, the layout `GGUFFile` reads (and llama.cpp, the `gguf` Python
/// package and transformers): "GGUF", version 3, the tensor and metadata counts, the
/// metadata in the order given, the tensor infos, padding to `alignment`, then each
/// tensor's data at an aligned offset, padded after it like gguf-py pads.
///
/// Tensor data is produced one tensor at a time by its `fill` closure and streamed to disk,
/// so a writer holds one tensor's floats and bytes at a time, never the whole model.
public struct GGUFWriter {
    /// One tensor: `dims` in ggml order (dims[0] the row length, the fastest index), so a
    /// PyTorch (out × in) weight has dims [in, out]. `fill` writes the tensor's
    /// `elementCount` floats (row-major, dims[0] fastest) into the buffer it is given.
    public struct Tensor {
        public var name: String
        public var dims: [Int]
        public var type: GGUFTensorType
        public var fill: (UnsafeMutablePointer<Float>) throws -> Void
        public init(name: String, dims: [Int], type: GGUFTensorType, fill: @escaping (UnsafeMutablePointer<Float>) throws -> Void) {
            self.name = name; self.dims = dims; self.type = type; self.fill = fill
        }
        public var elementCount: Int { dims.reduce(1, *) }
        public var byteCount: Int { elementCount / type.blockElements * type.blockBytes }
    }

    public var metadata: [(key: String, value: GGUFMetadataValue)] = []
    public var tensors: [Tensor] = []
    /// Alignment of the data section and of every tensor (a power of two); anything but the
    /// default 32 is recorded as `general.alignment`.
    public var alignment = 32

    public init() {}

    /// Appends a metadata entry (keys must be unique; `write` checks).
    public mutating func set(_ key: String, _ value: GGUFMetadataValue) { metadata.append((key, value)) }

    /// Writes the file atomically (see `AtomicFileWriter`). `progress(done, total)` is called
    /// after each tensor with the tensor bytes written so far. Throws `.invalidArgument` for
    /// a duplicate or empty key or tensor name, a badly typed array, dims outside 1...4
    /// entries of 1...2³¹−1, a row length that is not a multiple of the type's block, a type
    /// libibtpo does not write (F32, F16, Q8_0 are written), or a Q8_0 tensor holding a NaN or
    /// an infinity; `.io` for the file; and whatever `fill` throws. Nothing is left at `path`
    /// on an error.
    public func write(path: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let header = try encodeHeader()
        let file = try AtomicFileWriter(path: path)
        try file.write(header)
        try file.pad(to: alignment)
        let total = tensors.reduce(0) { $0 + $1.byteCount }
        var done = 0
        for t in tensors {
            let n = t.elementCount
            let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            defer { floats.deallocate() }
            floats.initialize(repeating: 0, count: max(1, n))
            try t.fill(floats)
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, t.byteCount), alignment: 16)
            defer { bytes.deallocate() }
            let out = bytes.bindMemory(to: UInt8.self)
            guard let base = out.baseAddress else { throw IBTPOError(.internalError, "no buffer for \(t.name)") }
            if let bad = GGUFQuantize.run(t.type, floats, count: n, into: base) {
                throw invalid("tensor \(t.name): value \(bad) is \(floats[bad]), which \(t.type.name) cannot store")
            }
            try file.write(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[0..<t.byteCount]))
            try file.pad(to: alignment)
            done += t.byteCount
            progress?(done, total)
        }
        try file.commit()
    }

    /// Everything before the data section: checks, then header, metadata and tensor infos.
    func encodeHeader() throws -> [UInt8] {
        guard alignment >= 1, alignment <= 1 << 16, alignment & (alignment - 1) == 0 else {
            throw invalid("GGUF alignment \(alignment) must be a power of two up to 65536")
        }
        var kv = metadata
        if alignment != 32 && !kv.contains(where: { $0.key == "general.alignment" }) {
            kv.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        var keys = Set<String>()
        for (k, v) in kv {
            guard !k.isEmpty, keys.insert(k).inserted else { throw invalid("GGUF metadata key '\(k)' is empty or repeated") }
            try v.validate(key: k)
        }
        var names = Set<String>()
        for t in tensors {
            guard !t.name.isEmpty, names.insert(t.name).inserted else {
                throw invalid("GGUF tensor name '\(t.name)' is empty or repeated")
            }
            guard (1...4).contains(t.dims.count), t.dims.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }) else {
                throw invalid("GGUF tensor \(t.name): dims \(t.dims) must be 1 to 4 sizes in 1...\(Int32.max)")
            }
            guard GGUFQuantize.writable.contains(t.type) else {
                throw invalid("GGUF tensor \(t.name): libibtpo writes \(GGUFQuantize.writable.map(\.name).joined(separator: ", ")), "
                    + "not \(t.type.name)")
            }
            guard t.dims[0] % t.type.blockElements == 0 else {
                throw invalid("GGUF tensor \(t.name): row length \(t.dims[0]) is not a multiple of \(t.type.name)'s block "
                    + "of \(t.type.blockElements)")
            }
            let (_, o) = t.dims.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d); return (p, acc.1 || o || p > 1 << 40)
            }
            guard !o else { throw invalid("GGUF tensor \(t.name): \(t.dims) is impossibly large") }
        }
        var w = ByteWriter()
        w.bytes(Array("GGUF".utf8))
        w.u32(3)
        w.u64(UInt64(tensors.count))
        w.u64(UInt64(kv.count))
        for (k, v) in kv {
            GGUFMetadataValue.encodeString(k, into: &w)
            w.u32(v.type.rawValue)
            v.encode(into: &w)
        }
        var offset = 0
        for t in tensors {
            GGUFMetadataValue.encodeString(t.name, into: &w)
            w.u32(UInt32(t.dims.count))
            for d in t.dims { w.u64(UInt64(d)) }
            w.u32(t.type.rawValue)
            w.u64(UInt64(offset))
            offset += (t.byteCount + alignment - 1) / alignment * alignment
        }
        return w.out
    }
}
