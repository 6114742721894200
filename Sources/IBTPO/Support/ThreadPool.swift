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

private final class PoolState {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    var tids: [pthread_t] = []
    var width = 1
    var generation: UInt64 = 0
    var pending = 0
    var shutdown = false
    var jobCount = 0
    var jobParts = 1
    var fn: ThreadPool.Entry? = nil
    var arg: UnsafeRawPointer? = nil

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        mutex.deallocate(); wake.deallocate(); done.deallocate()
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
        shutdown = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in tids { pthread_join(t, nil) }
        tids.removeAll()
    }

    func run(n: Int, parts: Int, fn: ThreadPool.Entry, arg: UnsafeRawPointer) {
        pthread_mutex_lock(mutex)
        self.fn = fn
        self.arg = arg
        jobCount = n
        jobParts = parts
        pending = parts - 1
        generation &+= 1
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        let (s, e) = ThreadPool.chunk(n, parts, 0)
        fn(arg, s, e)
        pthread_mutex_lock(mutex)
        while pending > 0 { pthread_cond_wait(done, mutex) }
        self.fn = nil
        self.arg = nil
        pthread_mutex_unlock(mutex)
    }

    func loop(index: Int) {
        var seen: UInt64 = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen && !shutdown { pthread_cond_wait(wake, mutex) }
            if shutdown { break }
            seen = generation
            let n = jobCount, parts = jobParts
            let fn = self.fn, arg = self.arg
            pthread_mutex_unlock(mutex)
            if index < parts, let fn, let arg {
                let (s, e) = ThreadPool.chunk(n, parts, index)
                fn(arg, s, e)
            }
            pthread_mutex_lock(mutex)
            if index < parts {
                pending -= 1
                if pending == 0 { pthread_cond_signal(done) }
            }
        }
        pthread_mutex_unlock(mutex)
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
