import Glibc

/// The checkpoint file format, version 1, 2 or 3 (all integers little-endian):
///
///     offset  size  field
///     0       8     magic "IBTPOCKP"
///     8       4     u32 format version (1; 2 with a run-state section; 3 with an extension
///                   block and a run-state section)
///     12      4     u32 library major version that wrote it
///     16      ...   config: 9 × i64 (vocab, d_model, n_layers, n_heads, n_kv_heads, d_ff,
///                   max_seq, tie_embeddings, reserved=0), 2 × f32 (rope_theta, norm_eps)
///             8     u64 optimiser step
///             32    4 × u64 RNG state (xoshiro256**)
///             4     u32 tensor count K
///             ...   format 3 only: the extension block (Checkpoint+Extension.swift)
///             K ×   tensor record: u32 name length, name (UTF-8), u32 rank, rank × i64 dims,
///                   u64 element count, then count × f32 data
///             ...   formats 2 and 3: the run-state section (Checkpoint+RunState.swift)
///             4     u32 CRC-32 (IEEE, reflected, as zlib) of every byte before it
///
/// Tensors are the model parameters under their `ParamLayout` names, then the AdamW
/// moments as "adam.m.<name>" and "adam.v.<name>". A reader refuses any state a trainer
/// could not have written (Checkpoint+Parse.swift): it checks the header (magic, version,
/// config validity, tie_embeddings ∈ {0, 1}, reserved = 0, step <= 2^53, a non-zero RNG
/// state) and the file size the header's model implies before it reads further, then the
/// checksum, every name, shape and length, finite values and non-negative second moments,
/// before it changes anything. Every error message names the file.
public enum Checkpoint {
    public static let magic: [UInt8] = Array("IBTPOCKP".utf8)
    public static let formatVersion: UInt32 = 1

    /// What a checkpoint holds besides tensors.
    public struct Header: Equatable {
        public var config: ModelConfig
        public var step: UInt64
        public var rng: Rng
        /// 1, 2 when a run-state section follows the tensors, 3 with an extension block.
        public var version: UInt32 = 1
        /// Named assets of a format-3 file (the tokenizer, the chat template).
        public var assets: [String: [UInt8]] = [:]
        /// Bytes of the extension block, its length field included (0 before format 3).
        public var extensionSize = 0
    }

    /// Serialises the trainer's model, optimiser state, step and RNG, and `runState` when it
    /// has counters (format 2; otherwise format 1, byte for byte what earlier versions wrote).
    /// A model with an extended config or a trainer with assets is written as format 3.
    /// Precondition: every counter name satisfies `isValidRunStateName` and there are at most
    /// `maxRunStateEntries` (`save(_:path:runState:)` checks this and throws instead).
    public static func encode(_ t: Trainer, runState: RunState = RunState()) -> [UInt8] {
        let c = t.model.config
        let extended = c.isExtended || !t.assets.isEmpty
        let withState = !runState.counters.isEmpty || extended
        var w = ByteWriter()
        w.bytes(magic)
        w.u32(extended ? extendedFormatVersion : withState ? runStateFormatVersion : formatVersion)
        w.u32(LibraryVersion.major)
        for v in [c.vocab, c.dModel, c.nLayers, c.nHeads, c.nKVHeads, c.dFF, c.maxSeq, c.tieEmbeddings ? 1 : 0, 0] {
            w.i64(Int64(v))
        }
        w.f32(c.ropeTheta); w.f32(c.normEps)
        w.u64(UInt64(t.step))
        w.u64(t.rng.s.0); w.u64(t.rng.s.1); w.u64(t.rng.s.2); w.u64(t.rng.s.3)
        let tensors = t.model.layout.tensors
        w.u32(UInt32(tensors.count * 3))
        if extended { writeExtension(c, assets: t.assets, to: &w) }
        for (prefix, base) in [("", t.model.params), ("adam.m.", t.model.adamM), ("adam.v.", t.model.adamV)] {
            for ten in tensors {
                w.string(prefix + ten.name)
                w.u32(UInt32(ten.shape.count))
                for d in ten.shape { w.i64(Int64(d)) }
                w.u64(UInt64(ten.count))
                w.floats(base + ten.offset, ten.count)
            }
        }
        if withState { writeRunState(runState, to: &w) }
        w.u32(CRC32.checksum(w.out))
        return w.out
    }

    /// Reads and checks only the header (config, step, RNG) of the checkpoint at `path`, and
    /// that the file's size is exactly what the header's model needs: a header that claims a
    /// model its file does not hold is refused before anyone allocates that model. Reads
    /// `headerSize` bytes; the tensors and the checksum are checked by `load`.
    public static func readHeader(path: String) throws -> Header {
        let f = try RegularFile.open(path)
        defer { f.close() }
        let head = try readHead(f)
        return try head.withUnsafeBytes { raw in
            let h = try parseHeader(raw, fileSize: f.size, path: path)
            try checkSize(h, fileSize: f.size, path: path)
            return h
        }
    }

    /// Writes the trainer's state (and `runState`, if it has counters) to `path` atomically.
    /// Refuses (`.badData`, naming `path` and the first bad tensor and element, nothing
    /// written) a state that no load would accept: a non-finite weight or moment, or a
    /// negative second moment (`checkSavable`). Throws `.invalidArgument` without writing if
    /// a counter name is invalid or there are more than `maxRunStateEntries`.
    public static func save(_ t: Trainer, path: String, runState: RunState = RunState()) throws {
        guard runState.counters.count <= maxRunStateEntries, runState.counters.keys.allSatisfy(isValidRunStateName) else {
            throw IBTPOError(.invalidArgument, "\(path): run state needs at most \(maxRunStateEntries) counters named [a-z0-9_.]{1,64}")
        }
        guard t.assets.count <= maxAssets, t.assets.keys.allSatisfy(isValidRunStateName),
              t.assets.values.reduce(0, { $0 + $1.count + 80 }) + 4096 <= maxExtensionBytes else {
            throw IBTPOError(.invalidArgument, "\(path): a checkpoint holds at most \(maxAssets) assets named [a-z0-9_.]{1,64}, "
                + "\(maxExtensionBytes >> 20) MiB in all")
        }
        try checkSavable(t, path: path)
        try FileIO.writeAtomically(path, encode(t, runState: runState))
    }

    /// The run state of the checkpoint at `path` (empty for format 1), after the same
    /// validation as `load` (the whole file is read and checked; nothing is changed).
    public static func readRunState(path: String) throws -> RunState {
        let bytes = try naming(path) { try FileIO.read(path, maxBytes: 1 << 40) }
        return try bytes.withUnsafeBytes { try parse($0, path: path).2 }
    }

    /// Throws `.badData` naming the first tensor (checkpoint name) and element of `t` that is
    /// not finite, or the first negative `adam.v` element. Reads every weight and moment once.
    static func checkSavable(_ t: Trainer, path: String) throws {
        for (prefix, base) in [("", t.model.params), ("adam.m.", t.model.adamM), ("adam.v.", t.model.adamV)] {
            for ten in t.model.layout.tensors {
                let p = base + ten.offset
                for j in 0..<ten.count where !p[j].isFinite || (prefix == "adam.v." && p[j] < 0) {
                    throw IBTPOError(.badData, "\(path): not saved: tensor \(prefix)\(ten.name) element \(j) is \(p[j]); "
                        + "a checkpoint never holds non-finite weights or moments")
                }
            }
        }
    }

    /// Loads `path` into `t`. The checkpoint's model config must equal the trainer's.
    /// The header and the file size are checked against the trainer before the file is read;
    /// the whole file is then read into one buffer of its size (`.outOfMemory` if that cannot
    /// be allocated) and validated (`parse`) before anything is copied.
    /// On any error the trainer is unchanged and the message names `path`. Returns the
    /// checkpoint's run state (empty for a format-1 file).
    @discardableResult
    public static func load(_ t: Trainer, path: String) throws -> RunState {
        let f = try RegularFile.open(path)
        defer { f.close() }
        let head = try readHead(f)
        let h = try head.withUnsafeBytes { try parseHeader($0, fileSize: f.size, path: path) }
        try checkSize(h, fileSize: f.size, path: path)
        try checkConfig(h.config, t, path: path)
        guard let buffer = malloc(max(1, f.size)) else {
            throw IBTPOError(.outOfMemory, "\(path): cannot allocate \(f.size) bytes to read the checkpoint")
        }
        defer { free(buffer) }
        try f.read(into: buffer, count: f.size, at: 0)
        return try load(t, raw: UnsafeRawBufferPointer(start: buffer, count: f.size), path: path)
    }

    /// Loads a checkpoint held in memory; `path` names it in error messages. Same checks as `load(_:path:)`.
    @discardableResult
    public static func load(_ t: Trainer, bytes: [UInt8], path: String) throws -> RunState {
        try bytes.withUnsafeBytes { try load(t, raw: $0, path: path) }
    }

    static func load(_ t: Trainer, raw: UnsafeRawBufferPointer, path: String) throws -> RunState {
        let (h, recs, state) = try parse(raw, path: path)
        try checkConfig(h.config, t, path: path)
        let tensors = t.model.layout.tensors
        var i = 0
        // Everything validated (names and shapes are the layout's): now copy.
        for base in [t.model.params, t.model.adamM, t.model.adamV] {
            for ten in tensors {
                let off = recs[i]; i += 1
                let dst = base + ten.offset
                for j in 0..<ten.count {
                    dst[j] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: off + 4 * j, as: UInt32.self).littleEndian)
                }
            }
        }
        t.step = Int(h.step)
        t.rng = h.rng
        t.assets = h.assets
        return state
    }

    /// The first bytes of `f` that `parseHeader` needs: the fixed header, and for format 3
    /// the extension block (when its declared length fits the file; otherwise only what is
    /// there, and `parseHeader` reports the truncation).
    static func readHead(_ f: RegularFile) throws -> [UInt8] {
        var head = [UInt8](repeating: 0, count: min(f.size, headerSize + 4))
        try head.withUnsafeMutableBytes { if let b = $0.baseAddress { try f.read(into: b, count: $0.count, at: 0) } }
        guard head.count == headerSize + 4 else { return head }
        let version = head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian }
        let length = head.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: headerSize, as: UInt32.self).littleEndian) }
        guard version == extendedFormatVersion, length <= maxExtensionBytes, headerSize + 4 + length <= f.size else {
            return head
        }
        var all = [UInt8](repeating: 0, count: headerSize + 4 + length)
        try all.withUnsafeMutableBytes { if let b = $0.baseAddress { try f.read(into: b, count: $0.count, at: 0) } }
        return all
    }

    static func checkConfig(_ c: ModelConfig, _ t: Trainer, path: String) throws {
        guard c == t.model.config else {
            throw IBTPOError(.configMismatch, "\(path): checkpoint model config \(c) differs from the trainer's \(t.model.config)")
        }
    }
}
