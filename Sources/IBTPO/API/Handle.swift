import CIBTPO
import Glibc

/// The object behind an `ibtpo_trainer *`. Owns the trainer and the buffer that
/// `ibtpo_last_error` returns. Handles carry a magic word that `free` clears, so that a
/// stale pointer is more likely to be rejected than used.
final class TrainerHandle {
    static let liveMagic: UInt64 = 0x1B7F_0A11_7EA1_0001
    var magic = TrainerHandle.liveMagic
    let trainer: Trainer
    let error: ErrorBuffer

    init(_ trainer: Trainer) {
        self.trainer = trainer
        error = ErrorBuffer()
    }

    /// The handle behind `p`, or nil for NULL or a pointer that is not a live handle.
    static func from(_ p: OpaquePointer?) -> TrainerHandle? {
        guard let p else { return nil }
        let h = Unmanaged<TrainerHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
        return h.magic == liveMagic ? h : nil
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
    } catch {
        sink.set("unexpected error: \(error)")
        return Status.internalError.rawValue
    }
}

/// Same as `guarded` for calls on a handle: rejects a NULL or stale handle first.
@inline(__always)
func onHandle(_ p: OpaquePointer?, _ body: (TrainerHandle) throws -> Void) -> ibtpo_status {
    guard let h = TrainerHandle.from(p) else {
        ThreadError.buffer.set(p == nil ? "trainer handle is NULL" : "trainer handle is not a live trainer")
        return Status.invalidArgument.rawValue
    }
    h.error.clear()
    return guarded(h.error) { try body(h) }
}

/// Checks a caller-set `struct_size` against the size this library was built with.
func checkStructSize(_ size: UInt32, _ expected: Int, _ name: String) throws {
    guard Int(size) >= expected && size <= 1 << 20 else {
        throw invalid("\(name).struct_size is \(size), expected sizeof(\(name)) = \(expected); call \(name)_default() first")
    }
}
