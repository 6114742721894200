/// The checkpoint file format, version 1 (all integers little-endian):
///
///     offset  size  field
///     0       8     magic "IBTPOCKP"
///     8       4     u32 format version (1)
///     12      4     u32 library major version that wrote it
///     16      ...   config: 9 × i64 (vocab, d_model, n_layers, n_heads, n_kv_heads, d_ff,
///                   max_seq, tie_embeddings, reserved=0), 2 × f32 (rope_theta, norm_eps)
///             8     u64 optimiser step
///             32    4 × u64 RNG state (xoshiro256**)
///             4     u32 tensor count K
///             K ×   tensor record: u32 name length, name (UTF-8), u32 rank, rank × i64 dims,
///                   u64 element count, then count × f32 data
///             4     u32 CRC-32 (IEEE, reflected, as zlib) of every byte before it
///
/// Tensors are the model parameters under their `ParamLayout` names, then the AdamW
/// moments as "adam.m.<name>" and "adam.v.<name>". A reader checks magic, version,
/// config validity, every name, shape and length, the absence of trailing bytes and the
/// checksum, before it changes anything.
public enum Checkpoint {
    public static let magic: [UInt8] = Array("IBTPOCKP".utf8)
    public static let formatVersion: UInt32 = 1

    /// What a checkpoint holds besides tensors.
    public struct Header: Equatable {
        public var config: ModelConfig
        public var step: UInt64
        public var rng: Rng
    }

    /// Serialises the trainer's model, optimiser state, step and RNG.
    public static func encode(_ t: Trainer) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(magic)
        w.u32(formatVersion)
        w.u32(LibraryVersion.major)
        let c = t.model.config
        for v in [c.vocab, c.dModel, c.nLayers, c.nHeads, c.nKVHeads, c.dFF, c.maxSeq, c.tieEmbeddings ? 1 : 0, 0] {
            w.i64(Int64(v))
        }
        w.f32(c.ropeTheta); w.f32(c.normEps)
        w.u64(UInt64(t.step))
        w.u64(t.rng.s.0); w.u64(t.rng.s.1); w.u64(t.rng.s.2); w.u64(t.rng.s.3)
        let tensors = t.model.layout.tensors
        w.u32(UInt32(tensors.count * 3))
        for (prefix, base) in [("", t.model.params), ("adam.m.", t.model.adamM), ("adam.v.", t.model.adamV)] {
            for ten in tensors {
                w.string(prefix + ten.name)
                w.u32(UInt32(ten.shape.count))
                for d in ten.shape { w.i64(Int64(d)) }
                w.u64(UInt64(ten.count))
                w.floats(base + ten.offset, ten.count)
            }
        }
        w.u32(CRC32.checksum(w.out))
        return w.out
    }

    /// Parses and validates `bytes` fully. Returns the header and, per tensor record, the
    /// byte offset of its data. Throws `.badCheckpoint` with what is wrong.
    static func parse(_ bytes: [UInt8], path: String) throws -> (Header, [(name: String, shape: [Int], offset: Int)]) {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badCheckpoint, "\(path): \(m)") }
        guard bytes.count >= 8 + 4 + 4 else { throw bad("file is too short (\(bytes.count) bytes) to be a checkpoint") }
        guard Array(bytes[0..<8]) == magic else { throw bad("not a libibtpo checkpoint (bad magic)") }
        let stored = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        var r = ByteReader(bytes: bytes, end: bytes.count - 4)
        r.pos = 8
        let version = try r.u32()
        guard version == formatVersion else { throw bad("unsupported format version \(version) (this library reads \(formatVersion))") }
        let computed = CRC32.checksum(bytes[0..<(bytes.count - 4)])
        guard computed == stored else { throw bad("checksum mismatch (file is corrupt or truncated)") }
        _ = try r.u32()
        var v: [Int] = []
        for _ in 0..<9 {
            let x = try r.i64()
            guard x >= 0 && x <= 1 << 40 else { throw bad("config field out of range (\(x))") }
            v.append(Int(x))
        }
        let theta = try r.f32(), eps = try r.f32()
        let cfg = ModelConfig(vocab: v[0], dModel: v[1], nLayers: v[2], nHeads: v[3], nKVHeads: v[4], dFF: v[5],
                              maxSeq: v[6], ropeTheta: theta, normEps: eps, tieEmbeddings: v[7] != 0)
        do { try cfg.validate() } catch let e as IBTPOError { throw bad("invalid config: \(e.message)") }
        let step = try r.u64()
        // `Trainer.step` is an Int: a larger value would trap in `Int(h.step)` on load.
        guard step <= UInt64(Int64.max) else { throw bad("step \(step) is out of range") }
        let rng = Rng(state: (try r.u64(), try r.u64(), try r.u64(), try r.u64()))
        let count = try r.u32()
        guard count <= 1 << 20 else { throw bad("implausible tensor count \(count)") }
        var recs: [(String, [Int], Int)] = []
        for _ in 0..<count {
            let name = try r.string()
            let rank = try r.u32()
            guard rank <= 8 else { throw bad("tensor \(name): rank \(rank) > 8") }
            var shape: [Int] = []
            for _ in 0..<rank {
                let d = try r.i64()
                guard d >= 0 && d <= 1 << 32 else { throw bad("tensor \(name): bad dimension \(d)") }
                shape.append(Int(d))
            }
            let n = try r.u64()
            guard n <= UInt64(r.remaining / 4) else { throw bad("tensor \(name): \(n) elements run past the end of the file") }
            let elements = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            guard elements == Int(n) else { throw bad("tensor \(name): shape \(shape) does not match count \(n)") }
            recs.append((name, shape, r.pos))
            r.pos += Int(n) * 4
        }
        guard r.remaining == 0 else { throw bad("\(r.remaining) unexpected trailing bytes") }
        return (Header(config: cfg, step: step, rng: rng), recs.map { (name: $0.0, shape: $0.1, offset: $0.2) })
    }

    /// Reads only the header (config, step, RNG) of a valid checkpoint file.
    public static func readHeader(path: String) throws -> Header {
        try parse(try FileIO.read(path), path: path).0
    }

    /// Writes the trainer's state to `path` atomically.
    public static func save(_ t: Trainer, path: String) throws {
        try FileIO.writeAtomically(path, encode(t))
    }

    /// Loads `path` into `t`. The checkpoint's model config must equal the trainer's.
    /// On any error the trainer is unchanged.
    public static func load(_ t: Trainer, path: String) throws {
        let bytes = try FileIO.read(path)
        try load(t, bytes: bytes, path: path)
    }

    public static func load(_ t: Trainer, bytes: [UInt8], path: String) throws {
        let (h, recs) = try parse(bytes, path: path)
        guard h.config == t.model.config else {
            throw IBTPOError(.configMismatch, "\(path): checkpoint model config \(h.config) differs from the trainer's \(t.model.config)")
        }
        let tensors = t.model.layout.tensors
        guard recs.count == tensors.count * 3 else {
            throw IBTPOError(.badCheckpoint, "\(path): expected \(tensors.count * 3) tensors, found \(recs.count)")
        }
        var targets: [(UnsafeMutablePointer<Float>, Int, Int)] = []
        var i = 0
        for (prefix, base) in [("", t.model.params), ("adam.m.", t.model.adamM), ("adam.v.", t.model.adamV)] {
            for ten in tensors {
                let rec = recs[i]; i += 1
                guard rec.name == prefix + ten.name else {
                    throw IBTPOError(.badCheckpoint, "\(path): tensor \(i - 1) is '\(rec.name)', expected '\(prefix + ten.name)'")
                }
                guard rec.shape == ten.shape else {
                    throw IBTPOError(.badCheckpoint, "\(path): tensor \(rec.name) has shape \(rec.shape), expected \(ten.shape)")
                }
                targets.append((base + ten.offset, rec.offset, ten.count))
            }
        }
        // Everything validated: now copy.
        bytes.withUnsafeBytes { raw in
            for (dst, off, n) in targets {
                for j in 0..<n { dst[j] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: off + 4 * j, as: UInt32.self).littleEndian) }
            }
        }
        t.step = Int(h.step)
        t.rng = h.rng
    }
}
