import Glibc

/// Whole-file reads and atomic writes on POSIX, with errors that name the path.
public enum FileIO {
    /// Reads the whole file. Throws `.io` naming the path and the errno text.
    public static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IBTPOError(.io, "cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IBTPOError(.io, "cannot stat \(path): \(errnoText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw IBTPOError(.io, "\(path) is not a regular file") }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IBTPOError(.io, "cannot read \(path): \(errnoText())")
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory,
    /// fsync, rename over `path`, then fsync of the directory. On any error the temporary
    /// file is removed and `path` is untouched.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws {
        let tmp = "\(path).tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IBTPOError(.io, "cannot create \(tmp): \(errnoText())") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + off, raw.count - off)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errnoText(); close(fd)
                throw IBTPOError(.io, "cannot write \(tmp): \(e)")
            }
            off += n
        }
        if fsync(fd) != 0 { let e = errnoText(); close(fd); throw IBTPOError(.io, "fsync \(tmp): \(e)") }
        if close(fd) != 0 { throw IBTPOError(.io, "close \(tmp): \(errnoText())") }
        if rename(tmp, path) != 0 { throw IBTPOError(.io, "cannot rename \(tmp) to \(path): \(errnoText())") }
        ok = true
        let dir = directoryOf(path)
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
