import Glibc

/// Whole-file reads through POSIX calls (the module does not use Foundation).
enum FileBytes {
    /// The bytes of the file at `path`, or the reason it could not be read (strerror text).
    static func read(path: String) -> Result<[UInt8], FileReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(FileReadError(reason: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress, raw.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(FileReadError(reason: String(cString: strerror(errno))))
            }
            if n == 0 { return .success(result) }
            result.append(contentsOf: buffer[0..<n])
        }
    }
}

struct FileReadError: Error {
    let reason: String
}
