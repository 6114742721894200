/// The extension block of a format-3 checkpoint: the model-config fields beyond the
/// original nine (pretrained Llama 3 / Qwen2 models) and named assets that make the
/// checkpoint self-contained (the tokenizer, the chat template). It sits right after the
/// fixed 140-byte header, before the first tensor record:
///
///     u32 block length L (bytes that follow, at most `maxExtensionBytes`)
///     i64 head_dim
///     u32 attention_bias (0 or 1)
///     u32 rope scaling kind: 0 none, 1 per-frequency factors, 2 factors and llama3 parameters
///     kind ≥ 1: u32 n = head_dim / 2, n × f32 factors (finite, > 0)
///     kind = 2: 3 × f64 (factor, low_freq_factor, high_freq_factor), i64 original_max_positions
///     u32 asset count A (0...maxAssets)
///     A × asset: u32 name length, name ([a-z0-9_.], 1...64 bytes, strictly increasing), u64
///                byte count, bytes
///
/// Format 3 always ends with a run-state section (which may have 0 entries) before the CRC.
/// A checkpoint is written as format 3 only when its config is extended or it has assets;
/// otherwise format 1 or 2, byte for byte as before.
extension Checkpoint {
    /// The format with the extension block.
    public static let extendedFormatVersion: UInt32 = 3
    /// At most this many bytes in the extension block (the assets included).
    public static let maxExtensionBytes = 256 << 20
    /// At most this many assets.
    public static let maxAssets = 16

    /// Appends the block for `c` and `assets` (names valid per `isValidRunStateName`).
    static func writeExtension(_ c: ModelConfig, assets: [String: [UInt8]], to w: inout ByteWriter) {
        var e = ByteWriter()
        e.i64(Int64(c.headDim))
        e.u32(c.attentionBias ? 1 : 0)
        if let r = c.ropeScaling {
            e.u32(r.llama3 == nil ? 1 : 2)
            e.u32(UInt32(r.factors.count))
            for f in r.factors { e.f32(f) }
            if let p = r.llama3 {
                for x in [p.factor, p.lowFreqFactor, p.highFreqFactor] { e.u64(x.bitPattern) }
                e.i64(Int64(p.originalMaxPositions))
            }
        } else {
            e.u32(0)
        }
        let names = assets.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        e.u32(UInt32(names.count))
        for n in names {
            let b = assets[n] ?? []
            e.string(n); e.u64(UInt64(b.count)); e.bytes(b)
        }
        w.u32(UInt32(e.out.count))
        w.bytes(e.out)
    }

    /// Reads the block at `r`'s position into `base` (the config of the fixed header) and
    /// returns the extended config and the assets. Throws `.badCheckpoint` for anything a
    /// writer could not have produced.
    static func readExtension(_ r: inout ByteReader, base: ModelConfig) throws -> (ModelConfig, [String: [UInt8]]) {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badCheckpoint, m) }
        let length = Int(try r.u32())
        guard length <= maxExtensionBytes else { throw bad("extension block of \(length) bytes is implausible") }
        let blockEnd = r.pos + length
        guard blockEnd <= r.end else { throw bad("truncated: the extension block needs \(length) bytes") }
        var c = base
        let hd = try r.i64()
        guard hd >= 2 && hd <= 1024 else { throw bad("head_dim \(hd) is out of range") }
        c.headDim = Int(hd)
        let bias = try r.u32()
        guard bias <= 1 else { throw bad("attention_bias must be 0 or 1 (got \(bias))") }
        c.attentionBias = bias == 1
        let kind = try r.u32()
        guard kind <= 2 else { throw bad("rope scaling kind \(kind) is unknown") }
        if kind >= 1 {
            let n = Int(try r.u32())
            guard n == c.headDim / 2 else { throw bad("rope scaling has \(n) factors, head_dim \(c.headDim) needs \(c.headDim / 2)") }
            var f: [Float] = []
            for _ in 0..<n { f.append(try r.f32()) }
            var scaling = RopeScaling(factors: f)
            if kind == 2 {
                let a = Double(bitPattern: try r.u64()), b = Double(bitPattern: try r.u64()), d = Double(bitPattern: try r.u64())
                let orig = try r.i64()
                guard orig >= 1 && orig <= 1 << 24 else { throw bad("rope scaling original_max_positions \(orig) is out of range") }
                scaling.llama3 = RopeScaling.Llama3(factor: a, lowFreqFactor: b, highFreqFactor: d, originalMaxPositions: Int(orig))
            }
            c.ropeScaling = scaling
        }
        let count = try r.u32()
        guard count <= UInt32(maxAssets) else { throw bad("asset count \(count) is out of range (0...\(maxAssets))") }
        var assets: [String: [UInt8]] = [:]
        var previous: [UInt8]? = nil
        for i in 0..<Int(count) {
            let name = try r.string()
            guard isValidRunStateName(name) else { throw bad("asset \(i) has an invalid name") }
            let nb = Array(name.utf8)
            if let previous, !previous.lexicographicallyPrecedes(nb) { throw bad("asset '\(name)' is out of order or repeated") }
            previous = nb
            let size = try r.u64()
            guard size <= UInt64(blockEnd - r.pos) else { throw bad("asset '\(name)' claims \(size) bytes, the block has fewer") }
            assets[name] = Array(try r.take(Int(size)))
        }
        guard r.pos == blockEnd else { throw bad("the extension block has \(blockEnd - r.pos) unexplained bytes") }
        guard c.isExtended || !assets.isEmpty else { throw bad("a format-3 checkpoint must have an extended config or assets") }
        return (c, assets)
    }
}
