/// Little-endian byte serialisation helpers for the checkpoint format.
struct ByteWriter {
    var out: [UInt8] = []
    mutating func bytes(_ b: [UInt8]) { out.append(contentsOf: b) }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func string(_ s: String) { let b = Array(s.utf8); u32(UInt32(b.count)); bytes(b) }
    mutating func floats(_ p: UnsafePointer<Float>, _ n: Int) {
        out.reserveCapacity(out.count + 4 * n)
        for j in 0..<n { u32(p[j].bitPattern) }
    }
}

/// Bounds-checked little-endian reader over borrowed bytes (valid while the caller keeps
/// them alive); every read past `end` throws `.badCheckpoint`.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let end: Int
    var pos = 0
    init(bytes: UnsafeRawBufferPointer, end: Int) { self.bytes = bytes; self.end = min(end, bytes.count) }
    var remaining: Int { end - pos }

    mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0 && n <= remaining else {
            throw IBTPOError(.badCheckpoint, "truncated: needed \(n) bytes at offset \(pos), \(remaining) left")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }
    mutating func u32() throws -> UInt32 {
        var v: UInt32 = 0
        for (i, b) in try take(4).enumerated() { v |= UInt32(b) << (8 * i) }
        return v
    }
    mutating func u64() throws -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(8).enumerated() { v |= UInt64(b) << (8 * i) }
        return v
    }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }
    mutating func f32() throws -> Float { Float(bitPattern: try u32()) }
    mutating func string() throws -> String {
        let n = try u32()
        guard n <= 4096 else { throw IBTPOError(.badCheckpoint, "string length \(n) at offset \(pos - 4) is implausible") }
        let b = try take(Int(n))
        guard let s = String(validating: b, as: UTF8.self) else {
            throw IBTPOError(.badCheckpoint, "invalid UTF-8 in a name at offset \(pos - Int(n))")
        }
        return s
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), identical to zlib's crc32().
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    static func checksum<C: Collection>(_ data: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in data { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}
