/// The library's semantic version. Same major version means ABI-compatible (libuv's rule).
public enum LibraryVersion {
    public static let major: UInt32 = 0
    public static let minor: UInt32 = 3
    public static let patch: UInt32 = 0
    public static var string: String { "\(major).\(minor).\(patch)" }
}
