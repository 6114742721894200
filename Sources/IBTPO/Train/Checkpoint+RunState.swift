/// The run-state section of a format-2 checkpoint: named u64 counters that a driver (the
/// `ibtpo` CLI) needs to continue a run exactly, such as the RL step reached, the tokens
/// generated so far or the SFT data cursor. The trainer itself does not read them.
///
///     u32 entry count N (1...maxRunStateEntries)
///     N × entry: u32 name length (1...64), name ([a-z0-9_.], ASCII), u64 value
///
/// Entries are written sorted by name, strictly increasing; a reader refuses anything else.
/// The section sits between the last tensor record and the CRC. A checkpoint without
/// counters is written as format 1 (byte for byte what earlier versions wrote), and both
/// formats load.
public struct RunState: Equatable, Sendable {
    /// The counters by name.
    public var counters: [String: UInt64]
    public init(_ counters: [String: UInt64] = [:]) { self.counters = counters }
    public subscript(name: String) -> UInt64? {
        get { counters[name] }
        set { counters[name] = newValue }
    }
}

extension Checkpoint {
    /// The format that carries a run-state section.
    public static let runStateFormatVersion: UInt32 = 2
    /// At most this many run-state entries.
    public static let maxRunStateEntries = 64
    static let maxRunStateNameLength = 64
    /// The largest possible run-state section in bytes.
    static var maxRunStateBytes: Int { 4 + maxRunStateEntries * (4 + maxRunStateNameLength + 8) }

    /// Whether `name` may name a run-state counter: 1...64 bytes of [a-z0-9_.].
    public static func isValidRunStateName(_ name: String) -> Bool {
        let u = name.utf8
        return !u.isEmpty && u.count <= maxRunStateNameLength
            && u.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2E }
    }

    /// Appends the section for `s` (which must be non-empty with valid names) to `w`.
    /// (Format 3 writes it even when `s` is empty.)
    static func writeRunState(_ s: RunState, to w: inout ByteWriter) {
        let names = s.counters.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        w.u32(UInt32(names.count))
        for n in names { w.string(n); w.u64(s.counters[n]!) }
    }

    /// Reads and checks the section at `r`'s position, which must end exactly at the CRC.
    /// (Format 3 writes the section even without counters: `allowEmpty`.)
    static func readRunState(_ r: inout ByteReader, allowEmpty: Bool = false) throws -> RunState {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badCheckpoint, m) }
        let n = try r.u32()
        let least: UInt32 = allowEmpty ? 0 : 1
        guard n >= least && n <= UInt32(maxRunStateEntries) else {
            throw bad("run-state entry count \(n) is out of range (\(least)...\(maxRunStateEntries))")
        }
        var s = RunState()
        var previous: [UInt8]? = nil
        for i in 0..<Int(n) {
            let name = try r.string()
            guard isValidRunStateName(name) else { throw bad("run-state entry \(i) has an invalid name") }
            let bytes = Array(name.utf8)
            if let previous, !previous.lexicographicallyPrecedes(bytes) {
                throw bad("run-state entry '\(name)' is out of order or repeated")
            }
            previous = bytes
            s.counters[name] = try r.u64()
        }
        return s
    }
}
