import CAtomics
import Glibc

/// A fixed pool of `threads - 1` worker pthreads plus the calling thread.
///
/// `parallelFor(n, body)` splits `0..<n` into `width` contiguous chunks, chunk 0 runs on
/// the caller, and returns when all chunks are done. The split depends only on `n` and the
/// thread count, and the kernels that use the pool never reduce across chunks, so results
/// are bit-identical for a given thread count (most kernels are identical for any count).
///
/// Dispatch allocates nothing: the body is a non-escaping closure reached through a pointer
/// for the duration of the call. One pool serves one trainer; it is not reentrant and must
/// be driven from one thread at a time.
public final class ThreadPool {
    public let threads: Int
    private let state: PoolState

    /// `threads` is clamped to 1...64.
    public init(threads: Int) {
        self.threads = max(1, min(64, threads))
        state = PoolState()
        state.start(workers: self.threads - 1)
    }

    deinit { state.stop() }

    /// A parallel kernel's entry point: (job pointer, start, end).
    public typealias Entry = @convention(c) (UnsafeRawPointer, Int, Int) -> Void

    /// Linux thread ids of the worker threads (for tests that attribute work to threads).
    public var workerThreadIDs: [Int32] {
        pthread_mutex_lock(state.mutex)
        defer { pthread_mutex_unlock(state.mutex) }
        return state.workerTids
    }

    /// Number of chunks actually used (live workers + caller).
    public var width: Int { state.width }

    /// The `i`-th of `parts` contiguous chunks of `0..<n`.
    @inline(__always)
    public static func chunk(_ n: Int, _ parts: Int, _ i: Int) -> (Int, Int) {
        let base = n / parts, extra = n % parts
        let start = i * base + min(i, extra)
        return (start, start + base + (i < extra ? 1 : 0))
    }

    /// Runs `J.entry(&job, start, end)` over a partition of `0..<n` into at most `width`
    /// chunks. This is the allocation-free dispatch used inside training steps: the job is
    /// a plain struct on the caller's stack and the entry a C function pointer.
    @inline(__always)
    public func run<J: ParallelJob>(_ n: Int, _ job: J) {
        if n <= 0 { return }
        withUnsafePointer(to: job) { p in
            let raw = UnsafeRawPointer(p)
            let parts = min(state.width, n)
            if parts == 1 { J.entry(raw, 0, n); return }
            state.run(n: n, parts: parts, fn: J.entry, arg: raw)
        }
    }

    /// Runs `body(start, end)` over a partition of `0..<n` into at most `width` chunks.
    /// Convenient but not allocation-free (`withoutActuallyEscaping` boxes the closure
    /// context); hot paths use `run(_:_:)` with a `ParallelJob`.
    public func parallelFor(_ n: Int, _ body: (Int, Int) -> Void) {
        if n <= 0 { return }
        let parts = min(state.width, n)
        if parts == 1 { body(0, n); return }
        withoutActuallyEscaping(body) { esc in
            let box = ClosureBox(esc)
            withExtendedLifetime(box) {
                state.run(n: n, parts: parts, fn: ClosureBox.entry, arg: UnsafeRawPointer(Unmanaged.passUnretained(box).toOpaque()))
            }
        }
    }
}

/// What workers read after seeing a new generation.
private struct JobSlot {
    var fn: ThreadPool.Entry? = nil
    var arg: UnsafeRawPointer? = nil
    var count = 0
    var parts = 1
}

/// Dispatch protocol: the caller writes the job slot, sets `pending` to the number of
/// workers, and publishes a new `generation` (release). Workers spin briefly on the
/// generation (acquire), then sleep on a condition variable; every worker acknowledges
/// every job by decrementing `pending` (even when it has no chunk), so the caller never
/// overwrites a slot someone may still read. The caller spins briefly for `pending` = 0,
/// then sleeps. Spinning is bounded (~tens of µs) so a busy machine is not starved;
/// condition-variable wake-ups on these machines cost ~50–100 µs, which dominated small
/// decode steps.
private final class PoolState {
    static let spins = 4000
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    let slot = UnsafeMutablePointer<JobSlot>.allocate(capacity: 1)
    let generation = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    let pending = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    let shutdown = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    var tids: [pthread_t] = []
    var workerTids: [Int32] = []
    var width = 1

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        slot.initialize(to: JobSlot())
        generation.initialize(to: 0)
        pending.initialize(to: 0)
        shutdown.initialize(to: 0)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        mutex.deallocate(); wake.deallocate(); done.deallocate()
        slot.deallocate(); generation.deallocate(); pending.deallocate(); shutdown.deallocate()
    }

    func start(workers: Int) {
        for index in 1...max(1, workers) where workers > 0 {
            let arg = Unmanaged.passRetained(WorkerArg(state: self, index: index)).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { raw in
                guard let raw else { return nil }
                let arg = Unmanaged<WorkerArg>.fromOpaque(raw).takeRetainedValue()
                arg.state.loop(index: arg.index)
                return nil
            }, arg)
            if rc == 0 { tids.append(tid) } else { Unmanaged<WorkerArg>.fromOpaque(arg).release(); break }
        }
        width = tids.count + 1
    }

    func stop() {
        pthread_mutex_lock(mutex)
        ibtpo_store_release_u64(shutdown, 1)
        ibtpo_store_release_u64(generation, ibtpo_load_acquire_u64(generation) &+ 1)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in tids { pthread_join(t, nil) }
        tids.removeAll()
    }

    func run(n: Int, parts: Int, fn: ThreadPool.Entry, arg: UnsafeRawPointer) {
        slot.pointee = JobSlot(fn: fn, arg: arg, count: n, parts: parts)
        ibtpo_store_release_i64(pending, Int64(tids.count))
        pthread_mutex_lock(mutex)
        ibtpo_store_release_u64(generation, ibtpo_load_acquire_u64(generation) &+ 1)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        let (s, e) = ThreadPool.chunk(n, parts, 0)
        fn(arg, s, e)
        var i = 0
        while ibtpo_load_acquire_i64(pending) > 0 && i < PoolState.spins { ibtpo_cpu_relax(); i += 1 }
        if ibtpo_load_acquire_i64(pending) > 0 {
            pthread_mutex_lock(mutex)
            while ibtpo_load_acquire_i64(pending) > 0 { pthread_cond_wait(done, mutex) }
            pthread_mutex_unlock(mutex)
        }
    }

    func loop(index: Int) {
        pthread_mutex_lock(mutex)
        workerTids.append(ibtpo_gettid())
        pthread_mutex_unlock(mutex)
        var seen: UInt64 = 0
        while true {
            var g = ibtpo_load_acquire_u64(generation)
            var i = 0
            while g == seen && i < PoolState.spins { ibtpo_cpu_relax(); i += 1; g = ibtpo_load_acquire_u64(generation) }
            if g == seen {
                pthread_mutex_lock(mutex)
                while ibtpo_load_acquire_u64(generation) == seen { pthread_cond_wait(wake, mutex) }
                g = ibtpo_load_acquire_u64(generation)
                pthread_mutex_unlock(mutex)
            }
            if ibtpo_load_acquire_u64(shutdown) != 0 { return }
            seen = g
            let job = slot.pointee
            if index < job.parts, let fn = job.fn, let arg = job.arg {
                let (s, e) = ThreadPool.chunk(job.count, job.parts, index)
                fn(arg, s, e)
            }
            if ibtpo_sub_fetch_i64(pending, 1) == 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_signal(done)
                pthread_mutex_unlock(mutex)
            }
        }
    }
}

private final class WorkerArg {
    let state: PoolState
    let index: Int
    init(state: PoolState, index: Int) { self.state = state; self.index = index }
}

/// A unit of parallel work: a plain struct of arguments plus a C entry point that reads
/// it back from the pointer, e.g.
///
///     struct ScaleJob: ParallelJob {
///         var p: UnsafeMutablePointer<Float>; var s: Float
///         static let entry: ThreadPool.Entry = { raw, lo, hi in
///             let j = raw.load(as: ScaleJob.self); for i in lo..<hi { j.p[i] *= j.s } }
///     }
public protocol ParallelJob {
    static var entry: ThreadPool.Entry { get }
}

private final class ClosureBox {
    let body: (Int, Int) -> Void
    init(_ body: @escaping (Int, Int) -> Void) { self.body = body }
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        Unmanaged<ClosureBox>.fromOpaque(raw).takeUnretainedValue().body(lo, hi)
    }
}

/// Shorthand for the float pointers that job structs carry.
typealias FPtr = UnsafeMutablePointer<Float>

/// The job struct behind a `ParallelJob` entry point's raw argument.
@inline(__always) func job<J>(_ raw: UnsafeRawPointer, _: J.Type) -> J { raw.assumingMemoryBound(to: J.self).pointee }
