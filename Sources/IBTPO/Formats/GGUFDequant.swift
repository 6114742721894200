/// float32 from ggml's storage types, value for value as ggml's reference dequantisers
/// (ggml-quants.c) and the `gguf` Python package compute them: every block's scales are
/// half (or BF16) floats turned to float32, and each value is scale·q (+ min) in float32.
enum GGUFDequant {
    /// Dequantises `count` values (a whole number of blocks of `type`) from `src`, which
    /// holds exactly count / blockElements · blockBytes bytes, into `out`.
    static func run(_ type: GGUFTensorType, _ src: UnsafeRawBufferPointer, count: Int,
                    into out: UnsafeMutablePointer<Float>) {
        guard let s = src.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let blocks = count / type.blockElements
        let bb = type.blockBytes
        switch type {
        case .f32:
            for i in 0..<count { out[i] = Float(bitPattern: u32(s + 4 * i)) }
        case .f16:
            for i in 0..<count { out[i] = half(s + 2 * i) }
        case .bf16:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(u16(s + 2 * i)) << 16) }
        case .q8_0:
            for b in 0..<blocks {
                let p = s + b * bb, y = out + 32 * b, d = half(p)
                for j in 0..<32 { y[j] = Float(Int8(bitPattern: p[2 + j])) * d }
            }
        case .q4_0:
            for b in 0..<blocks {
                let p = s + b * bb, y = out + 32 * b, d = half(p), q = p + 2
                for j in 0..<16 {
                    y[j] = Float(Int(q[j] & 0xF) - 8) * d
                    y[j + 16] = Float(Int(q[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let p = s + b * bb, y = out + 32 * b, d = half(p), m = half(p + 2), q = p + 4
                for j in 0..<16 {
                    y[j] = Float(q[j] & 0xF) * d + m
                    y[j + 16] = Float(q[j] >> 4) * d + m
                }
            }
        case .q5_0:
            for b in 0..<blocks {
                let p = s + b * bb, y = out + 32 * b, d = half(p), qh = u32(p + 2), q = p + 6
                for j in 0..<16 {
                    let h0 = Int((qh >> UInt32(j)) << 4) & 0x10, h1 = Int(qh >> UInt32(j + 12)) & 0x10
                    y[j] = Float((Int(q[j] & 0xF) | h0) - 16) * d
                    y[j + 16] = Float((Int(q[j] >> 4) | h1) - 16) * d
                }
            }
        case .q5_1:
            for b in 0..<blocks {
                let p = s + b * bb, y = out + 32 * b, d = half(p), m = half(p + 2), qh = u32(p + 4), q = p + 8
                for j in 0..<16 {
                    let h0 = Int((qh >> UInt32(j)) << 4) & 0x10, h1 = Int(qh >> UInt32(j + 12)) & 0x10
                    y[j] = Float(Int(q[j] & 0xF) | h0) * d + m
                    y[j + 16] = Float(Int(q[j] >> 4) | h1) * d + m
                }
            }
        case .q4_K:
            for b in 0..<blocks {
                let p = s + b * bb, d = half(p), dmin = half(p + 2), sc = p + 4
                var q = p + 16, y = out + 256 * b
                for c in 0..<4 {
                    let (s1, m1) = scaleMinK4(2 * c, sc), (s2, m2) = scaleMinK4(2 * c + 1, sc)
                    let d1 = d * Float(s1), dm1 = dmin * Float(m1), d2 = d * Float(s2), dm2 = dmin * Float(m2)
                    for l in 0..<32 { y[l] = d1 * Float(q[l] & 0xF) - dm1 }
                    for l in 0..<32 { y[32 + l] = d2 * Float(q[l] >> 4) - dm2 }
                    q += 32; y += 64
                }
            }
        case .q5_K:
            for b in 0..<blocks {
                let p = s + b * bb, d = half(p), dmin = half(p + 2), sc = p + 4, qh = p + 16
                var ql = p + 48, y = out + 256 * b
                for c in 0..<4 {
                    let u1 = UInt8(1) << UInt8(2 * c), u2 = UInt8(2) << UInt8(2 * c)
                    let (s1, m1) = scaleMinK4(2 * c, sc), (s2, m2) = scaleMinK4(2 * c + 1, sc)
                    let d1 = d * Float(s1), dm1 = dmin * Float(m1), d2 = d * Float(s2), dm2 = dmin * Float(m2)
                    for l in 0..<32 { y[l] = d1 * Float(Int(ql[l] & 0xF) + (qh[l] & u1 != 0 ? 16 : 0)) - dm1 }
                    for l in 0..<32 { y[32 + l] = d2 * Float(Int(ql[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - dm2 }
                    ql += 32; y += 64
                }
            }
        case .q6_K:
            for b in 0..<blocks {
                let p = s + b * bb, d = half(p + 208)
                var ql = p, qh = p + 128, sc = p + 192, y = out + 256 * b
                for _ in 0..<2 {
                    for l in 0..<32 {
                        let i = l / 16
                        let q1 = Int((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32
                        let q2 = Int((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32
                        let q3 = Int((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                        let q4 = Int((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                        y[l] = d * Float(Int8(bitPattern: sc[i])) * Float(q1)
                        y[l + 32] = d * Float(Int8(bitPattern: sc[i + 2])) * Float(q2)
                        y[l + 64] = d * Float(Int8(bitPattern: sc[i + 4])) * Float(q3)
                        y[l + 96] = d * Float(Int8(bitPattern: sc[i + 6])) * Float(q4)
                    }
                    y += 128; ql += 64; qh += 32; sc += 8
                }
            }
        }
    }

    @inline(__always) static func u16(_ p: UnsafePointer<UInt8>) -> UInt16 { UInt16(p[0]) | UInt16(p[1]) << 8 }
    @inline(__always) static func u32(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }
    /// IEEE half at `p` as float32 (exact).
    @inline(__always) static func half(_ p: UnsafePointer<UInt8>) -> Float { Float(Float16(bitPattern: u16(p))) }

    /// The 6-bit scale and min of sub-block j (0..<8) packed in a K-quant's 12 scale bytes.
    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}
