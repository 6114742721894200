/// Validation of checkpoint bytes (format in Checkpoint.swift and docs/checkpoint-format.md):
/// everything a trainer could not have written is refused, and every message names the file.
extension Checkpoint {
    /// Bytes before the first tensor record: magic, versions, config, step, RNG, tensor count.
    static let headerSize = 140
    /// The largest optimiser step a checkpoint may carry (2^53). No run takes that many
    /// steps, and below it `step + 1`, the schedule's arithmetic and the RL step counters
    /// cannot overflow; a larger value can only come from a corrupt or crafted file.
    public static let maxStep: UInt64 = 1 << 53

    /// The exact size in bytes of a checkpoint of a model with config `c` (which must be valid).
    public static func expectedFileSize(_ c: ModelConfig) -> Int {
        var size = headerSize + 4   // + the CRC
        for prefix in ["", "adam.m.", "adam.v."] {
            for ten in ParamLayout(c).tensors {
                size += 4 + prefix.utf8.count + ten.name.utf8.count + 4 + 8 * ten.shape.count + 8 + 4 * ten.count
            }
        }
        return size
    }

    /// Prefixes `path` to the message of any `IBTPOError` thrown by `body` (as `.badCheckpoint`
    /// unless it is `.io`/`.outOfMemory`/`.configMismatch`).
    static func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as IBTPOError {
            if e.message.hasPrefix("\(path): ") { throw e }
            let status: Status = [.io, .outOfMemory, .configMismatch].contains(e.status) ? e.status : .badCheckpoint
            throw IBTPOError(status, "\(path): \(e.message)")
        }
    }

    /// Parses and checks the fixed header (`raw` holds at least its first `headerSize` bytes,
    /// or the whole file when it is shorter; `fileSize` is the file's full size). Checks the
    /// magic, the format version, every config field (valid per `ModelConfig.validate`,
    /// tie_embeddings 0 or 1, reserved 0), step <= `maxStep`, a non-zero xoshiro state and the
    /// tensor count the config implies. Throws `.badCheckpoint` naming `path`.
    static func parseHeader(_ raw: UnsafeRawBufferPointer, fileSize: Int, path: String) throws -> Header {
        try naming(path) {
            func bad(_ m: String) -> IBTPOError { IBTPOError(.badCheckpoint, m) }
            guard fileSize >= 8 + 4 else { throw bad("file is too short (\(fileSize) bytes) to be a checkpoint") }
            guard raw.count >= 12, Array(raw[0..<8]) == magic else { throw bad("not a libibtpo checkpoint (bad magic)") }
            var r = ByteReader(bytes: raw, end: raw.count)
            r.pos = 8
            let version = try r.u32()
            guard version == formatVersion || version == runStateFormatVersion || version == extendedFormatVersion else {
                throw bad("unsupported format version \(version) (this library reads \(formatVersion), "
                    + "\(runStateFormatVersion) and \(extendedFormatVersion))")
            }
            guard fileSize >= headerSize + 4 else {
                throw bad("file is too short (\(fileSize) bytes) to be a checkpoint (the header alone is \(headerSize + 4))")
            }
            _ = try r.u32()
            let names = ["vocab", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "max_seq", "tie_embeddings", "reserved"]
            var v: [Int] = []
            for name in names {
                let x = try r.i64()
                guard x >= 0 && x <= 1 << 40 else { throw bad("config field \(name) out of range (\(x))") }
                v.append(Int(x))
            }
            guard v[7] <= 1 else { throw bad("tie_embeddings must be 0 or 1 (got \(v[7]))") }
            guard v[8] == 0 else { throw bad("the reserved config field must be 0 (got \(v[8]))") }
            let theta = try r.f32(), eps = try r.f32()
            var cfg = ModelConfig(vocab: v[0], dModel: v[1], nLayers: v[2], nHeads: v[3], nKVHeads: v[4], dFF: v[5],
                                  maxSeq: v[6], ropeTheta: theta, normEps: eps, tieEmbeddings: v[7] == 1)
            if version != extendedFormatVersion {
                // Formats 1 and 2 have no head_dim: d_model / n_heads, which must be whole.
                guard cfg.nHeads >= 1 && cfg.dModel % cfg.nHeads == 0 else {
                    throw bad("invalid config: d_model (\(cfg.dModel)) must be a multiple of n_heads (\(cfg.nHeads))")
                }
                do { try cfg.validate() } catch let e as IBTPOError { throw bad("invalid config: \(e.message)") }
            }
            let step = try r.u64()
            guard step <= maxStep else { throw bad("step \(step) is out of range (at most 2^53)") }
            let s = (try r.u64(), try r.u64(), try r.u64(), try r.u64())
            guard s.0 | s.1 | s.2 | s.3 != 0 else { throw bad("the RNG state is all zero (xoshiro256** never reaches it)") }
            let count = try r.u32()
            var assets: [String: [UInt8]] = [:]
            var extensionSize = 0
            if version == extendedFormatVersion {
                let start = r.pos
                (cfg, assets) = try readExtension(&r, base: cfg)
                extensionSize = r.pos - start
                do { try cfg.validate() } catch let e as IBTPOError { throw bad("invalid config: \(e.message)") }
            }
            let want = 3 * ParamLayout(cfg).tensors.count
            guard count == want else { throw bad("tensor count \(count), but the header's model has \(want) tensors") }
            return Header(config: cfg, step: step, rng: Rng(state: s), version: version, assets: assets,
                          extensionSize: extensionSize)
        }
    }

    /// Throws `.badCheckpoint` unless `fileSize` is exactly `expectedFileSize(h.config)` (format
    /// 1), or that plus a run-state section of plausible size (format 2: at least one entry,
    /// at most `maxRunStateBytes`).
    static func checkSize(_ h: Header, fileSize: Int, path: String) throws {
        let c = h.config
        let tensorsEnd = expectedFileSize(c) + h.extensionSize
        // Format 1 ends with the tensors (and CRC); format 2 adds a bounded run-state section
        // of at least one entry, format 3 one that may be empty.
        let v3 = h.version == extendedFormatVersion
        let v2 = h.version == runStateFormatVersion || v3
        let lo = v3 ? tensorsEnd + 4 : v2 ? tensorsEnd + 4 + 4 + 1 + 8 : tensorsEnd
        let hi = v2 ? tensorsEnd + maxRunStateBytes : tensorsEnd
        let what = v2 ? "a format-\(h.version) checkpoint of its header's model" : "its header's model"
        let bound = v2 ? "at least " : ""
        if fileSize < lo {
            throw IBTPOError(.badCheckpoint, "\(path): truncated: the file has \(fileSize) bytes, but \(what) "
                + "(\(c.nLayers) layers, vocab \(c.vocab), d_model \(c.dModel), d_ff \(c.dFF)) needs \(bound)\(lo)")
        }
        if fileSize > hi {
            throw IBTPOError(.badCheckpoint, "\(path): \(fileSize - hi) unexpected trailing bytes (the file has \(fileSize) "
                + "bytes, \(what) \(v2 ? "at most" : "needs") \(hi))")
        }
    }

    /// Parses and validates a whole checkpoint: the header (`parseHeader`), the size, the
    /// checksum, every tensor record's name, rank, shape and count against the header's
    /// layout, and every value: parameters and first moments finite, second moments finite
    /// and >= 0, then (format 2) the run-state section. Returns the header, each record's data
    /// offset in file order, and the run state (empty for format 1).
    static func parse(_ raw: UnsafeRawBufferPointer, path: String) throws -> (Header, [Int], RunState) {
        let h = try parseHeader(raw, fileSize: raw.count, path: path)
        try checkSize(h, fileSize: raw.count, path: path)
        return try naming(path) {
            func bad(_ m: String) -> IBTPOError { IBTPOError(.badCheckpoint, m) }
            let end = raw.count - 4
            let stored = raw.loadUnaligned(fromByteOffset: end, as: UInt32.self).littleEndian
            guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<end])) == stored else {
                throw bad("checksum mismatch (file is corrupt or truncated)")
            }
            var r = ByteReader(bytes: raw, end: end)
            r.pos = headerSize + h.extensionSize
            var offsets: [Int] = []
            let tensors = ParamLayout(h.config).tensors
            for prefix in ["", "adam.m.", "adam.v."] {
                for ten in tensors {
                    let name = try r.string()
                    guard name == prefix + ten.name else {
                        throw bad("tensor \(offsets.count) is '\(name)', expected '\(prefix + ten.name)'")
                    }
                    let rank = try r.u32()
                    guard rank == ten.shape.count else { throw bad("tensor \(name): rank \(rank), expected \(ten.shape.count)") }
                    var shape: [Int] = []
                    for _ in 0..<rank { shape.append(Int(truncatingIfNeeded: try r.i64())) }
                    guard shape == ten.shape else { throw bad("tensor \(name) has shape \(shape), expected \(ten.shape)") }
                    let n = try r.u64()
                    guard n == UInt64(ten.count) else { throw bad("tensor \(name): count \(n) does not match shape \(shape)") }
                    let data = try r.take(4 * ten.count)
                    if let j = firstBadValue(data, count: ten.count, nonNegative: prefix == "adam.v.") {
                        let x = Float(bitPattern: data.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self).littleEndian)
                        throw bad("tensor \(name)[\(j)] = \(x): "
                            + (x.isFinite ? "second moments are never negative" : "values must be finite"))
                    }
                    offsets.append(raw.baseAddress!.distance(to: data.baseAddress!))
                }
            }
            let state = h.version == formatVersion ? RunState()
                : try readRunState(&r, allowEmpty: h.version == extendedFormatVersion)
            guard r.remaining == 0 else { throw bad("\(r.remaining) unexpected trailing bytes") }
            return (h, offsets, state)
        }
    }

    /// The index of the first little-endian f32 of `data` that is not finite (or, with
    /// `nonNegative`, is below zero; −0 is allowed), or nil.
    static func firstBadValue(_ data: UnsafeRawBufferPointer, count: Int, nonNegative: Bool) -> Int? {
        for j in 0..<count {
            let x = Float(bitPattern: data.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self).littleEndian)
            if !x.isFinite || (nonNegative && x < 0) { return j }
        }
        return nil
    }
}
