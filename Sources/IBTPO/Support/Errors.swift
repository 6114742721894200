/// Status codes shared by the Swift core and the C ABI (`ibtpo_status` in include/ibtpo.h).
/// Values are explicit and never reused.
public enum Status: Int32, Sendable {
    case ok = 0
    case invalidArgument = 1
    case outOfMemory = 2
    case io = 3
    case badCheckpoint = 4
    case configMismatch = 5
    case aborted = 6
    case callbackFailed = 7
    case notSupported = 8
    case badData = 9
    case internalError = 10
    case busy = 11
    case partiallyApplied = 12

    /// Static text for the code; never changes for a given code.
    public var text: String {
        switch self {
        case .ok: return "ok"
        case .invalidArgument: return "invalid argument"
        case .outOfMemory: return "out of memory"
        case .io: return "I/O error"
        case .badCheckpoint: return "bad checkpoint file"
        case .configMismatch: return "configuration mismatch"
        case .aborted: return "aborted by callback"
        case .callbackFailed: return "callback failed"
        case .notSupported: return "not supported"
        case .badData: return "bad data"
        case .internalError: return "internal error"
        case .busy: return "trainer busy"
        case .partiallyApplied: return "partially applied"
        }
    }
}

/// The one error type the core throws: a status plus a human-readable message.
public struct IBTPOError: Error, CustomStringConvertible, Sendable {
    public var status: Status
    public var message: String
    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { "\(status.text): \(message)" }
}

@inline(__always)
func invalid(_ message: String) -> IBTPOError { IBTPOError(.invalidArgument, message) }
