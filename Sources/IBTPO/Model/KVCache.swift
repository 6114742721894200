import Glibc

/// Keys and values of up to `slots` concurrent sequences, `maxSeq` positions each, for
/// every layer: k and v are (layers, slots, kvHeads, maxSeq, headDim) row-major, post-RoPE
/// keys. Head-major, so that one head's attention streams one contiguous block.
/// `lengths[s]` is the number of valid positions of slot s. Lives in the model's arena
/// (group "kv_cache"); copying a prefix between slots is how a branch reuses its parent's
/// work without recomputing it.
public struct KVCache {
    public let layers: Int, slots: Int, maxSeq: Int, kvDim: Int, kvHeads: Int, headDim: Int
    let k: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let lengths: UnsafeMutablePointer<Int32>

    /// Reserves the sections "kv.k", "kv.v" and "kv.lengths".
    static func reserve(config c: ModelConfig, slots: Int, plan: inout MemoryPlan) throws {
        let (perLayer, o1) = slots.multipliedReportingOverflow(by: c.maxSeq * c.kvDim)
        let (n, o2) = perLayer.multipliedReportingOverflow(by: c.nLayers)
        guard !o1, !o2 else { throw IBTPOError(.outOfMemory, "KV cache of \(slots) slots overflows") }
        try plan.reserve("kv.k", group: "kv_cache", count: n)
        try plan.reserve("kv.v", group: "kv_cache", count: n)
        try plan.reserve("kv.lengths", group: "kv_cache", count: slots, of: Int32.self)
    }

    /// Reads the sections of `reserve` from `arena` by name.
    init(config c: ModelConfig, slots: Int, arena: Arena) throws {
        layers = c.nLayers; self.slots = slots; maxSeq = c.maxSeq; kvDim = c.kvDim; kvHeads = c.nKVHeads; headDim = c.headDim
        k = try arena.pointer(named: "kv.k"); v = try arena.pointer(named: "kv.v")
        lengths = try arena.pointer(named: "kv.lengths", as: Int32.self)
    }

    /// Start of position `pos` of KV head `g` of `slot` in layer `layer` (headDim floats).
    @inline(__always) func offset(_ layer: Int, _ slot: Int, _ g: Int, _ pos: Int) -> Int {
        (((layer * slots + slot) * kvHeads + g) * maxSeq + pos) * headDim
    }

    /// Number of cached positions of `slot`.
    public func length(_ slot: Int) -> Int { slot >= 0 && slot < slots ? Int(lengths[slot]) : 0 }

    /// Forgets every position of `slot` (the memory is reused, not cleared).
    public func reset(_ slot: Int) throws {
        guard slot >= 0 && slot < slots else { throw invalid("slot \(slot) is outside 0..<\(slots)") }
        lengths[slot] = 0
    }

    /// Copy-on-branch: `to` becomes the first `length` positions of `from` in every layer
    /// (`length` ≤ length(from)). `from == to` truncates. Allocates nothing.
    public func copyPrefix(from: Int, to: Int, length: Int) throws {
        guard from >= 0 && from < slots && to >= 0 && to < slots else {
            throw invalid("copyPrefix slots \(from) → \(to) must lie in 0..<\(slots)")
        }
        guard length >= 0 && length <= Int(lengths[from]) else {
            throw invalid("copyPrefix length \(length) exceeds the \(lengths[from]) cached positions of slot \(from)")
        }
        if from != to {
            for l in 0..<layers {
                for g in 0..<kvHeads {
                    memcpy(k + offset(l, to, g, 0), k + offset(l, from, g, 0), length * headDim * 4)
                    memcpy(v + offset(l, to, g, 0), v + offset(l, from, g, 0), length * headDim * 4)
                }
            }
        }
        lengths[to] = Int32(length)
    }
}
