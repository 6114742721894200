// Deterministic randomness and hashing for problem generation. No global state,
// no SystemRandomNumberGenerator, no Hasher (whose seed changes per process).

/// SplitMix64 (Steele, Lea, Flood 2014). Same seed, same stream, on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 output finaliser: a bijective 64-bit mixer.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0), without modulo bias. Returns 0 if bound <= 0.
    public mutating func next(below bound: Int) -> Int {
        guard bound > 0 else { return 0 }
        let b = UInt64(bound)
        let limit = UInt64.max - (UInt64.max % b)   // accept values < limit (a multiple of b)
        while true {
            let v = next()
            if v < limit { return Int(v % b) }
        }
    }

    /// Uniform in the closed range.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + next(below: range.upperBound - range.lowerBound + 1)
    }
}

/// Stable hashing of strings, independent of process, platform and seed.
public enum StableHash {
    /// FNV-1a 64 over the UTF-8 bytes, then the SplitMix64 finaliser for avalanche.
    public static func of(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return SplitMix64.mix(h)
    }

    /// Combines hashes order-dependently.
    public static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        SplitMix64.mix(a ^ (SplitMix64.mix(b) &+ 0x9E37_79B9_7F4A_7C15))
    }
}
