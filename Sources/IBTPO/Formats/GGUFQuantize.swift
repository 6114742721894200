/// float32 to the ggml storage types libibtpo writes, bit for bit as ggml's reference code
/// (ggml-quants.c, ggml.c) and the `gguf` Python package (gguf.quants.quantize) produce them.
enum GGUFQuantize {
    /// The types `run` writes.
    static let writable: [GGUFTensorType] = [.f32, .f16, .q8_0]

    /// Encodes `count` floats of `src` (a whole number of `type`'s blocks) into `out`, which
    /// holds count / blockElements · blockBytes bytes, little-endian. Returns the index of
    /// the first value a Q8_0 block cannot hold (a NaN or an infinity), else nil; F32 and
    /// F16 store every value (F16 rounds to nearest even, overflowing to ±inf, as ggml does).
    static func run(_ type: GGUFTensorType, _ src: UnsafePointer<Float>, count: Int,
                    into out: UnsafeMutablePointer<UInt8>) -> Int? {
        switch type {
        case .f32:
            for i in 0..<count { put32(src[i].bitPattern, out + 4 * i) }
        case .f16:
            for i in 0..<count { put16(Float16(src[i]).bitPattern, out + 2 * i) }
        case .q8_0:
            for b in 0..<count / 32 {
                let x = src + 32 * b, y = out + 34 * b
                if let bad = q8_0Block(x, y) { return 32 * b + bad }
            }
        default:
            return 0   // not writable: callers check `writable` first
        }
        return nil
    }

    /// ggml's quantize_row_q8_0_ref on one block of 32: amax = max |x| (C's MAX order),
    /// d = amax / 127, id = 1/d (0 when d = 0), q = roundf(x · id) (half away from zero),
    /// and d stored as IEEE half (round to nearest even). Returns the offset of a
    /// non-finite input, if any.
    @inline(__always) static func q8_0Block(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>) -> Int? {
        var amax: Float = 0
        for j in 0..<32 {
            guard x[j].isFinite else { return j }
            let v = abs(x[j])
            amax = amax > v ? amax : v
        }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        put16(Float16(d).bitPattern, y)
        for j in 0..<32 {
            let q = (x[j] * id).rounded(.toNearestOrAwayFromZero)
            y[2 + j] = UInt8(bitPattern: Int8(max(-128, min(127, q))))
        }
        return nil
    }

    @inline(__always) static func put16(_ v: UInt16, _ p: UnsafeMutablePointer<UInt8>) {
        p[0] = UInt8(truncatingIfNeeded: v); p[1] = UInt8(truncatingIfNeeded: v >> 8)
    }
    @inline(__always) static func put32(_ v: UInt32, _ p: UnsafeMutablePointer<UInt8>) {
        for k in 0..<4 { p[k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
    }
}
