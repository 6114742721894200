import CKernels
import Glibc

/// The machine's measured memory-read bandwidth: the limit a float32 decoder of one sequence
/// meets, since every token reads every weight once.
public enum ReadBandwidth {
    /// GB/s (10^9 bytes) of summing a `bytes`-sized buffer (default 1 GiB, far above any
    /// cache) split over the workers of `pool`, best of `repeats` passes after one that
    /// faults the pages in. Returns 0 when the buffer cannot be mapped.
    public static func measure(pool: ThreadPool, bytes: Int = 1 << 30, repeats: Int = 5) -> Double {
        let words = bytes / 8
        guard let raw = mmap(nil, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else { return 0 }
        defer { munmap(raw, words * 8) }
        let p = raw.bindMemory(to: UInt64.self, capacity: words)
        let w = pool.width, chunk = (words + w - 1) / w
        pool.parallelFor(w) { lo, hi in
            for part in lo..<hi {
                let a = part * chunk, n = max(0, min(words, a + chunk) - a)
                (p + a).initialize(repeating: UInt64(part) &+ 1, count: n)
            }
        }
        var best = 0.0
        let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: w)
        defer { sink.deallocate() }
        for _ in 0..<max(1, repeats) {
            let t0 = monotonicSeconds()
            pool.parallelFor(w) { lo, hi in
                for part in lo..<hi {
                    let a = part * chunk, n = max(0, min(words, a + chunk) - a)
                    sink[part] = ibtpokern_read_sum(p + a, Int64(n))
                }
            }
            best = max(best, Double(words * 8) / (monotonicSeconds() - t0) / 1e9)
        }
        return best
    }
}
