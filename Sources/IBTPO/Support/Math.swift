import Glibc

@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }

/// Vectorised exp for 8 floats. Range reduction x = n·ln2 + r with |r| ≤ ln2/2, a degree-6
/// polynomial for e^r and 2^n by exponent-bit construction. Relative error ≤ ~2e-7 over
/// [-87, 88]; inputs below -87.3 give 0 and above 88.7 give +inf (tested in KernelTests).
@inline(__always)
func simdExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -87.33654)
    let hi = SIMD8<Float>(repeating: 88.72283)
    var xc = x.replacing(with: lo, where: x .< lo)
    xc = xc.replacing(with: hi, where: xc .> hi)
    let isNaN = x .!= x
    xc = xc.replacing(with: 0, where: isNaN)
    let log2e = SIMD8<Float>(repeating: 1.44269504088896341)
    // Round x·log2(e) to the nearest integer with the 1.5·2^23 shifter: adding it leaves the
    // integer in the low mantissa bits (plain SIMD float ops; the generic SIMD rounding and
    // Float→Int conversions are scalarised and ~5× slower).
    let shifter = SIMD8<Float>(repeating: 12_582_912.0)
    let t = xc * log2e + shifter
    let n = t - shifter
    // r = x - n*ln2 in two parts (Cody–Waite) for accuracy.
    var r = xc - n * SIMD8<Float>(repeating: 0.693359375)
    r = r - n * SIMD8<Float>(repeating: -2.12194440e-4)
    var p = SIMD8<Float>(repeating: 1.0 / 720.0)
    p = p * r + SIMD8<Float>(repeating: 1.0 / 120.0)
    p = p * r + SIMD8<Float>(repeating: 1.0 / 24.0)
    p = p * r + SIMD8<Float>(repeating: 1.0 / 6.0)
    p = p * r + SIMD8<Float>(repeating: 0.5)
    p = p * r + SIMD8<Float>(repeating: 1.0)
    p = p * r + SIMD8<Float>(repeating: 1.0)
    // 2^n: n in [-126, 128]; build the float with biased exponent n+127, split in two
    // factors so that n = 128 and n = -126 both stay representable.
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let n1 = ni &>> 1
    let n2 = ni &- n1
    let e1 = unsafeBitCast((n1 &+ 127) &<< 23, to: SIMD8<Float>.self)
    let e2 = unsafeBitCast((n2 &+ 127) &<< 23, to: SIMD8<Float>.self)
    var out = p * e1 * e2
    out = out.replacing(with: 0, where: x .< lo)
    out = out.replacing(with: Float.infinity, where: x .> hi)
    out = out.replacing(with: Float.nan, where: isNaN)
    return out
}

/// Scalar exp through the same approximation, so scalar tails match vector lanes exactly.
@inline(__always)
func fastExp(_ x: Float) -> Float { simdExp(SIMD8<Float>(repeating: x))[0] }

/// Horizontal sum of a SIMD8.
@inline(__always) func hsum(_ v: SIMD8<Float>) -> Float { v.sum() }

/// Σ a[i]·b[i] for i < n, with two SIMD8 accumulators (fixed order for a given n).
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        a0.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                      UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
        a1.addProduct(UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self),
                      UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self))
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// Σ a[i]·b[i]·c[i] for i < n (SIMD8, fixed order for a given n).
@inline(__always)
func dot3(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        acc.addProduct(va * vb, UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self))
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i] * c[i]; i += 1 }
    return s
}
