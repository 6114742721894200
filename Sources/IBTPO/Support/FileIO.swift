import Glibc

/// Whole-file reads and atomic writes on POSIX, with errors that name the path.
public enum FileIO {
    /// Reads the whole regular file (at most `maxBytes`). Throws `.io` naming the path and the
    /// errno text, or the kind of file when it is not a regular one (see `RegularFile.open`).
    public static func read(_ path: String, maxBytes: Int = .max) throws -> [UInt8] {
        let f = try RegularFile.open(path, maxBytes: maxBytes)
        defer { f.close() }
        var out = [UInt8]()
        out.reserveCapacity(f.size)
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(f.fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IBTPOError(.io, "cannot read \(path): \(errnoText())")
            }
            if n == 0 { break }
            // The file may grow while it is read: the bound holds for what is read.
            guard out.count + n <= maxBytes else { throw IBTPOError(.io, "\(path) is larger than \(maxBytes) bytes") }
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

/// A file opened for reading that `fstat` says is a regular file. It is opened with
/// O_NONBLOCK, so that opening a FIFO cannot block, and checked before anything is read:
/// FIFOs, sockets, directories and device nodes (/dev/zero, /dev/urandom) are refused at once.
struct RegularFile {
    let fd: Int32
    /// st_size at open time.
    let size: Int
    let path: String

    /// Opens `path`; throws `.io` naming the path and the reason (errno text, the kind of
    /// file, or a size above `maxBytes`).
    static func open(_ path: String, maxBytes: Int = .max) throws -> RegularFile {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw IBTPOError(.io, "cannot open \(path): \(FileIO.errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = FileIO.errnoText(); Glibc.close(fd)
            throw IBTPOError(.io, "cannot stat \(path): \(e)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw IBTPOError(.io, "\(path) is \(kind(st.st_mode)), not a regular file")
        }
        let size = Int(st.st_size)
        guard size <= maxBytes else {
            Glibc.close(fd)
            throw IBTPOError(.io, "\(path) is \(size) bytes, more than the limit of \(maxBytes)")
        }
        return RegularFile(fd: fd, size: size, path: path)
    }

    func close() { Glibc.close(fd) }

    /// Reads exactly `count` bytes at `offset` into `dst`; throws `.io` on an error or when
    /// the file ends early (it shrank since it was opened).
    func read(into dst: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
        var done = 0
        while done < count {
            let n = pread(fd, dst + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw IBTPOError(.io, "cannot read \(path): \(FileIO.errnoText())")
            }
            if n == 0 { throw IBTPOError(.io, "cannot read \(path): the file shrank while it was read") }
            done += n
        }
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }
}
