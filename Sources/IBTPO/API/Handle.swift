import CAtomics
import CIBTPO
import Glibc

/// The object behind an `ibtpo_trainer *`. Owns the trainer and the buffer that
/// `ibtpo_last_error` returns. Registered in `LiveHandles` from create to free.
final class TrainerHandle {
    let trainer: Trainer
    let error: ErrorBuffer
    /// Callbacks set through ibtpo_trainer_set_*_fn (nil = none).
    var reward: CReward?
    var log: (fn: ibtpo_log_fn, user: UnsafeMutableRawPointer?)?
    var progress: (fn: ibtpo_progress_fn, user: UnsafeMutableRawPointer?)?
    /// SFT order over the train split of the task last used by ibtpo_trainer_step_sft.
    var sft: (task: TaskHandle, batcher: SFTBatcher)?
    /// The RL run started by ibtpo_trainer_rl_begin, and the task it trains on (kept alive
    /// for the run; its `hasAnswers` decides whether a reward callback is required).
    var rl: RLTrainer?
    var rlTask: TaskHandle?
    /// 1 while a call runs on this handle, else 0 (see `onHandle`). Atomic: read and set
    /// only through ibtpo_try_acquire_i64 / ibtpo_store_release_i64.
    private let busy: UnsafeMutablePointer<Int64>

    init(_ trainer: Trainer) {
        self.trainer = trainer
        error = ErrorBuffer()
        busy = .allocate(capacity: 1)
        busy.initialize(to: 0)
    }
    deinit { busy.deallocate() }

    /// Marks the handle busy and returns true, or returns false when a call already runs on
    /// it (on another thread, or further up this thread's stack: a callback calling back).
    func tryEnter() -> Bool { ibtpo_try_acquire_i64(busy) != 0 }
    /// Ends the call `tryEnter` started.
    func leave() { ibtpo_store_release_i64(busy, 0) }

    /// Sends one line to the log callback, if any.
    func info(_ message: String, level: Int32 = IBTPO_LOG_INFO) {
        guard let log else { return }
        message.withCString { log.fn(log.user, level, $0) }
    }

    /// Logs that a supervised step had nothing to learn and was a no-op.
    func warnNothingToLearn() {
        info("supervised step: no target has a non-zero weight, nothing to learn; the step was a no-op "
             + "(parameters, optimiser state and step counter unchanged)", level: IBTPO_LOG_WARN)
    }

    /// The progress callback as a Swift closure for `phase` (false = stop), or nil.
    func progressClosure(_ phase: StaticString) -> ((Int, Int) -> Bool)? {
        guard let progress else { return nil }
        // Static string literals are NUL-terminated and live forever, as the header promises.
        let name = UnsafeRawPointer(phase.utf8Start).assumingMemoryBound(to: CChar.self)
        return { done, total in progress.fn(progress.user, name, Int64(done), Int64(total)) == 0 }
    }

    /// The reward function RL and evaluation use on `task`: the callback if set (nil = the
    /// task's verifier); throws when the task has no answers and no callback is set.
    func rewardFunction(for task: TaskHandle) throws -> ((Problem, [UInt8]) throws -> Double)? {
        if let reward {
            let blank = !task.hasAnswers
            return { p, bytes in try reward.call(p, bytes, answer: blank ? "" : p.answer) }
        }
        guard task.hasAnswers else {
            throw invalid("the task was created without answers: set a reward callback (ibtpo_trainer_set_reward_fn) first")
        }
        return nil
    }

    /// The handle behind `p`, or nil for NULL or a pointer that is not a live trainer.
    static func from(_ p: OpaquePointer?) -> TrainerHandle? { LiveHandles.object(p, kind: .trainer) }
}

/// A C reward callback and its user data, callable as a Swift reward function.
struct CReward {
    let fn: ibtpo_reward_fn
    let user: UnsafeMutableRawPointer?

    /// Calls the callback with the prompt, the completion's raw bytes and `answer`, each
    /// NUL-terminated and with its length.
    func call(_ problem: Problem, _ completion: [UInt8], answer: String) throws -> Double {
        var reward = Double.nan
        let c = completion + [0]
        let rc: Int32 = problem.prompt.withCString { p in
            c.withUnsafeBufferPointer { cb in
                answer.withCString { a in
                    cb.baseAddress!.withMemoryRebound(to: CChar.self, capacity: c.count) { cp in
                        fn(user, p, Int64(problem.prompt.utf8.count), cp, Int64(completion.count), a, &reward)
                    }
                }
            }
        }
        guard rc == 0 else {
            throw IBTPOError(.callbackFailed, "the reward callback returned \(rc); nothing was changed")
        }
        guard reward.isFinite && reward >= 0 && reward <= 1 else {
            throw IBTPOError(.callbackFailed, "the reward callback returned reward \(reward), outside [0, 1]; nothing was changed")
        }
        return reward
    }
}

/// Addresses of the live handles, so that a stale or foreign pointer is rejected before it
/// is dereferenced. Guarded by a mutex: handles are created and freed from any thread.
enum LiveHandles {
    enum Kind { case trainer, task }
    nonisolated(unsafe) private static var live: [UnsafeRawPointer: Kind] = [:]
    nonisolated(unsafe) private static var mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// Retains `object` for the caller and registers its address as a live handle of `kind`.
    static func register<T: AnyObject>(_ object: T, kind: Kind) -> OpaquePointer {
        let raw = UnsafeRawPointer(Unmanaged.passRetained(object).toOpaque())
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        live[raw] = kind
        return OpaquePointer(raw)
    }

    /// The object behind `p` if `p` is a live handle of `kind`; the registry is consulted
    /// before `p` is dereferenced, so a freed or foreign pointer is never read.
    static func object<T: AnyObject>(_ p: OpaquePointer?, kind: Kind) -> T? {
        guard let p else { return nil }
        let raw = UnsafeRawPointer(p)
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        guard live[raw] == kind else { return nil }
        return Unmanaged<T>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Unregisters `p` and drops the caller's reference; a no-op for NULL, a handle freed
    /// already or a pointer that is not a live handle of `kind`.
    static func release<T: AnyObject>(_ p: OpaquePointer?, kind: Kind, as type: T.Type) {
        guard let p else { return }
        let raw = UnsafeRawPointer(p)
        pthread_mutex_lock(mutex)
        let wasLive = live[raw] == kind
        if wasLive { live[raw] = nil }
        pthread_mutex_unlock(mutex)
        if wasLive { Unmanaged<T>.fromOpaque(raw).release() }
    }
}

/// A fixed 2 KiB NUL-terminated message buffer with a stable address.
final class ErrorBuffer {
    static let capacity = 2048
    let buf: UnsafeMutablePointer<CChar>
    init() {
        buf = .allocate(capacity: ErrorBuffer.capacity)
        buf[0] = 0
    }
    deinit { buf.deallocate() }

    func set(_ message: String) {
        var n = 0
        for b in message.utf8 {
            if n >= ErrorBuffer.capacity - 1 { break }
            buf[n] = CChar(bitPattern: b)
            n += 1
        }
        buf[n] = 0
    }
    func clear() { buf[0] = 0 }
}

/// Thread-local message of the last failed handle-less call (like errno).
enum ThreadError {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { raw in
            if let raw { Unmanaged<ErrorBuffer>.fromOpaque(raw).release() }
        }
        return k
    }()

    static var buffer: ErrorBuffer {
        if let raw = pthread_getspecific(key) { return Unmanaged<ErrorBuffer>.fromOpaque(raw).takeUnretainedValue() }
        let b = ErrorBuffer()
        pthread_setspecific(key, Unmanaged.passRetained(b).toOpaque())
        return b
    }
}

/// Runs `body`, mapping thrown errors to a status and recording the message in `sink`.
@inline(__always)
func guarded(_ sink: ErrorBuffer, _ body: () throws -> Void) -> ibtpo_status {
    do {
        try body()
        return Status.ok.rawValue
    } catch let e as IBTPOError {
        sink.set(e.message)
        return e.status.rawValue
    } catch let e as TaskError {
        sink.set("\(e)")
        return Status.invalidArgument.rawValue
    } catch let e as DatasetError {
        sink.set("\(e)")
        return (e.line == nil && e.message.hasPrefix("cannot read file") ? Status.io : Status.badData).rawValue
    } catch {
        sink.set("unexpected error: \(error)")
        return Status.internalError.rawValue
    }
}

/// Same as `guarded` for calls on a handle: rejects a NULL or stale handle first, then a
/// handle that is busy with another call (IBTPO_ERR_BUSY, message in the calling thread's
/// last error, the handle and its last error untouched): a second thread, or a callback
/// of this call calling its own trainer. Only one `body` runs on a handle at a time.
@inline(__always)
func onHandle(_ p: OpaquePointer?, _ body: (TrainerHandle) throws -> Void) -> ibtpo_status {
    guard let h = TrainerHandle.from(p) else {
        ThreadError.buffer.set(p == nil ? "trainer handle is NULL" : "trainer handle is not a live trainer")
        return Status.invalidArgument.rawValue
    }
    guard h.tryEnter() else {
        ThreadError.buffer.set("the trainer is busy: another call on it is running (on another thread, or this "
                               + "is a callback calling its own trainer); nothing was done")
        return Status.busy.rawValue
    }
    defer { h.leave() }
    return withExtendedLifetime(h) {
        h.error.clear()
        return guarded(h.error) { try body(h) }
    }
}

/// Writes a `*_default()` filler's value; a NULL `out` is IBTPO_ERR_INVALID_ARGUMENT with the
/// message in the calling thread's last error.
func fillDefault<T>(_ out: UnsafeMutablePointer<T>?, _ value: @autoclosure () -> T) -> ibtpo_status {
    guard let out else { ThreadError.buffer.set("cfg is NULL"); return Status.invalidArgument.rawValue }
    out.pointee = value()
    return Status.ok.rawValue
}

/// Checks a caller-set `struct_size` against the size this library was built with.
/// Input structs (filled by a `*_default()` function) need at least `expected` bytes;
/// output structs (`output: true`) name the sizeof rule instead.
func checkStructSize(_ size: UInt32, _ expected: Int, _ name: String, output: Bool = false) throws {
    guard Int(size) >= expected && size <= 1 << 20 else {
        // An embedded struct ("ibtpo_rl_config.sampling") is filled by its enclosing struct's filler.
        let outer = name.split(separator: ".").first.map(String.init) ?? name
        let fix = output ? "set it to sizeof(\(name))"
            : outer == name ? "call \(name)_default() first"
            : "call \(outer)_default() first (it fills the embedded struct)"
        let want = outer == name ? "sizeof(\(name)) = \(expected)" : "\(expected)"
        throw invalid("\(name).struct_size is \(size), expected \(want); \(fix)")
    }
}
