import CIBTPO
import CKernels

@c @implementation
public func ibtpo_version() -> UInt32 {
    (LibraryVersion.major << 16) | (LibraryVersion.minor << 8) | LibraryVersion.patch
}

private let statusStrings: [StaticString] = [
    "ok", "invalid argument", "out of memory", "I/O error", "bad checkpoint file", "configuration mismatch",
    "aborted by callback", "callback failed", "not supported", "bad data", "internal error",
    "trainer busy", "partially applied",
]

@c @implementation
public func ibtpo_status_string(_ status: ibtpo_status) -> UnsafePointer<CChar>? {
    let s: StaticString = (status >= 0 && Int(status) < statusStrings.count) ? statusStrings[Int(status)] : "unknown status"
    return UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c @implementation
public func ibtpo_last_error(_ trainer: OpaquePointer?) -> UnsafePointer<CChar>? {
    if trainer == nil { return UnsafePointer(ThreadError.buffer.buf) }
    guard let h = TrainerHandle.from(trainer) else {
        return UnsafeRawPointer(("trainer handle is not a live trainer" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
    }
    return UnsafePointer(h.error.buf)
}

@c @implementation
public func ibtpo_sgemm_kernel() -> UnsafePointer<CChar>? {
    ibtpokern_kernel_description()
}
