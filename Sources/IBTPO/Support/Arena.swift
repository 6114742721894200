import Glibc

/// A named region of an arena: `count` floats (or bytes, for byte sections) at a 64-byte
/// aligned byte offset from the arena's base.
public struct ArenaSection: Sendable {
    public var name: String
    public var group: String
    public var offset: Int
    public var bytes: Int
}

/// A memory plan: every section a configuration needs, laid out before anything is
/// allocated (the zstd `estimateCCtxSize` / llm.c `fill_in_parameter_sizes` pattern).
/// `totalBytes` is exactly what `Arena(plan:)` allocates.
///
/// Sections are named, and names are unique: whoever reserves a section reads it back by
/// its name (`Arena.pointer(named:)`), so the reading code never depends on the order
/// of `reserve` calls and a missing or misspelt name is an error, never an alias.
public struct MemoryPlan: Sendable {
    public static let alignment = 64
    public private(set) var sections: [ArenaSection] = []
    public private(set) var totalBytes: Int = 0
    private var byName: [String: Int] = [:]

    public init() {}

    /// The index of the section called `name`, if the plan has one.
    public func index(of name: String) -> Int? { byName[name] }

    /// Reserve `count` elements of `T`; returns the section index. Throws on overflow or
    /// when `name` is already taken.
    @discardableResult
    public mutating func reserve<T>(_ name: String, group: String, count: Int, of: T.Type = Float.self) throws -> Int {
        guard count >= 0 else { throw invalid("negative size for section \(name)") }
        guard byName[name] == nil else { throw IBTPOError(.internalError, "memory plan: section \(name) reserved twice") }
        let (b, o1) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        let (padded, o2) = b.addingReportingOverflow(MemoryPlan.alignment - 1)
        guard !o1, !o2 else { throw IBTPOError(.outOfMemory, "section \(name) overflows the address space") }
        let aligned = padded & ~(MemoryPlan.alignment - 1)
        let (end, o3) = totalBytes.addingReportingOverflow(aligned)
        guard !o3, end < (1 << 46) else { throw IBTPOError(.outOfMemory, "memory plan exceeds 64 TiB at section \(name)") }
        sections.append(ArenaSection(name: name, group: group, offset: totalBytes, bytes: b))
        byName[name] = sections.count - 1
        totalBytes = end
        return sections.count - 1
    }

    /// Bytes per group ("params", "grads", "adam", "activations", "scratch", ...), in first-seen order.
    public var groups: [(name: String, bytes: Int)] {
        var out: [(String, Int)] = []
        for s in sections {
            let padded = (s.bytes + MemoryPlan.alignment - 1) & ~(MemoryPlan.alignment - 1)
            if let i = out.firstIndex(where: { $0.0 == s.group }) { out[i].1 += padded } else { out.append((s.group, padded)) }
        }
        return out
    }

    /// A human-readable table of the plan, one line per group, sizes in MiB.
    public func summary() -> String {
        var lines: [String] = []
        for g in groups { lines.append("  \(pad(g.name, 12)) \(formatMiB(g.bytes))") }
        lines.append("  \(pad("total", 12)) \(formatMiB(totalBytes))")
        return lines.joined(separator: "\n")
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

func formatMiB(_ bytes: Int) -> String {
    let mib = Double(bytes) / 1_048_576.0
    let whole = Int(mib)
    let frac = Int((mib - Double(whole)) * 100 + 0.5)
    if frac >= 100 { return "\(whole + 1).00 MiB" }
    return "\(whole).\(frac < 10 ? "0" : "")\(frac) MiB"
}

/// One zeroed, page-aligned (hence 64-byte-aligned) allocation carved into the sections of
/// a `MemoryPlan`. The arena owns its memory and frees it on deinit. Pointers into it stay
/// valid for the arena's lifetime; nothing else in the library allocates memory for tensors.
///
/// The memory is an anonymous private mapping: the kernel hands out zero pages on first
/// touch, so sections never used (the gradients and AdamW moments of a model that only
/// samples) cost no physical memory and no time. (A `posix_memalign` + `memset` of a
/// pretrained model's 2 GB arena took seconds at load.)
public final class Arena {
    public let plan: MemoryPlan
    public let base: UnsafeMutableRawPointer
    private let mappedBytes: Int

    /// Maps `plan.totalBytes`; throws `.outOfMemory` if the mapping fails.
    public init(plan: MemoryPlan) throws {
        self.plan = plan
        let size = max(plan.totalBytes, MemoryPlan.alignment)
        let mem = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mem, mem != MAP_FAILED else {
            throw IBTPOError(.outOfMemory, "could not allocate \(formatMiB(size)) for the arena")
        }
        base = mem
        mappedBytes = size
    }

    deinit { munmap(base, mappedBytes) }

    /// Typed pointer to the section called `name`. Throws `.internalError` when the plan has
    /// no such section or its size is not a whole number of `T` (a reader that disagrees
    /// with the reserving code about a section's type).
    public func pointer<T>(named name: String, as: T.Type = Float.self) throws -> UnsafeMutablePointer<T> {
        guard let i = plan.index(of: name) else { throw IBTPOError(.internalError, "arena: no section named \(name)") }
        guard plan.sections[i].bytes % MemoryLayout<T>.stride == 0 else {
            throw IBTPOError(.internalError, "arena: section \(name) does not hold \(T.self) elements")
        }
        return pointer(i, as: T.self)
    }

    /// Elements of `T` in the section called `name` (0 if there is none).
    public func count<T>(named name: String, of: T.Type = Float.self) -> Int {
        guard let i = plan.index(of: name) else { return 0 }
        return plan.sections[i].bytes / MemoryLayout<T>.stride
    }

    /// Typed pointer to section `index` (an index returned by `MemoryPlan.reserve`).
    @inline(__always)
    public func pointer<T>(_ index: Int, as: T.Type = Float.self) -> UnsafeMutablePointer<T> {
        (base + plan.sections[index].offset).assumingMemoryBound(to: T.self)
    }
}
