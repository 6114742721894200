import XCTest
@testable import IBTPO

/// Marks every index of its range once (a data race or a double dispatch shows up as a
/// count other than 1).
private struct MarkJob: ParallelJob {
    var counts: UnsafeMutablePointer<Int32>
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = raw.assumingMemoryBound(to: MarkJob.self).pointee
        for i in lo..<hi { j.counts[i] += 1 }
    }
}

final class ThreadPoolTests: XCTestCase {
    /// Thousands of back-to-back dispatches of every size, including n < width, cover each
    /// index exactly once for pools of 1…4 threads (the spin/sleep handshake loses no job
    /// and runs none twice).
    func testEveryIndexRunsExactlyOnce() {
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        defer { counts.deallocate() }
        var dispatches = 0
        for threads in 1...4 {
            let pool = ThreadPool(threads: threads)
            for round in 0..<1500 {
                let n = round % 41
                counts.initialize(repeating: 0, count: 64)
                pool.run(n, MarkJob(counts: counts))
                for i in 0..<64 { XCTAssertEqual(counts[i], i < n ? 1 : 0, "threads \(threads) n \(n) index \(i)") }
                dispatches += 1
            }
            // Let workers fall asleep, then make sure a sleeping pool still wakes up.
            usleep(20_000)
            counts.initialize(repeating: 0, count: 64)
            pool.run(64, MarkJob(counts: counts))
            XCTAssertEqual((0..<64).filter { counts[$0] == 1 }.count, 64)
        }
        print("\(dispatches) dispatches checked on pools of 1–4 threads")
    }

    /// A pool is freed (its threads joined) without hanging, also right after a job.
    func testPoolTearDown() {
        for t in 1...4 {
            let counts = UnsafeMutablePointer<Int32>.allocate(capacity: 8)
            counts.initialize(repeating: 0, count: 8)
            do {
                let pool = ThreadPool(threads: t)
                pool.run(8, MarkJob(counts: counts))
            }
            XCTAssertEqual((0..<8).map { counts[$0] }, [Int32](repeating: 1, count: 8))
            counts.deallocate()
        }
    }
}
