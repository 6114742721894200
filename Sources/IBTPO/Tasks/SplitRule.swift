/// The rule that makes splits disjoint: a problem's canonical key alone decides its split.
///
/// A key is in the test split iff `StableHash.of(key) % 100 < testPercent`. The rule does not
/// depend on the task seed or the difficulty knobs, so a problem is in the same split for every
/// configuration and every run. Generators sample candidates and reject those of the other split.
public enum SplitRule {
    /// Percentage of the key space assigned to the test split.
    public static let testPercent: UInt64 = 10

    public static func split(ofKey key: String) -> Split {
        StableHash.of(key) % 100 < testPercent ? .test : .train
    }

    /// The generator for (task, seed, split, index): independent streams for every index.
    static func rng(task: String, seed: UInt64, split: Split, index: Int) -> SplitMix64 {
        var h = StableHash.combine(StableHash.of(task), seed)
        h = StableHash.combine(h, split == .train ? 0x7472_6169_6E : 0x7465_7374)
        h = StableHash.combine(h, UInt64(bitPattern: Int64(index)))
        return SplitMix64(seed: h)
    }

    /// Upper bound on rejection-sampling attempts. Each built-in task validates its knobs so that
    /// both splits hold a sizeable share of candidates; hitting the bound is a bug, not bad input.
    static let maxAttempts = 1_000_000

    /// Called only if rejection sampling found no candidate of the wanted split in `maxAttempts`
    /// tries. The built-in knob ranges make this astronomically unlikely (tests check that every
    /// knob setting has both splits well populated), so this is an internal error, not bad input.
    static func exhausted(task: String, split: Split, index: Int) -> Never {
        fatalError("internal error: task '\(task)' found no \(split.rawValue) problem for index \(index) in \(maxAttempts) attempts")
    }
}
