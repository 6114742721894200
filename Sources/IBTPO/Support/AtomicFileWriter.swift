import Glibc

/// A file written in pieces and published atomically, for outputs too large to build in
/// memory first (a model's weights). Bytes go to `<path>.tmp.<pid>` (the name
/// `FileIO.writeAtomically` uses) through a 1 MiB buffer; `commit()` flushes, fsyncs, renames
/// over `path` and fsyncs the directory. Until `commit()` succeeds `path` is untouched, and
/// a writer dropped without committing (an error on the way) removes its temporary file.
/// Errors are `.io` naming the file and the errno text.
public final class AtomicFileWriter {
    public let path: String
    let tmp: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private static let bufferBytes = 1 << 20
    /// Bytes handed to `write` so far (the size of the file once committed).
    public private(set) var count = 0

    public init(path: String) throws {
        self.path = path
        tmp = "\(path).tmp.\(getpid())"
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IBTPOError(.io, "cannot create \(tmp): \(FileIO.errnoText())") }
        buffer.reserveCapacity(Self.bufferBytes)
    }

    deinit {
        if fd >= 0 { close(fd); unlink(tmp) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw IBTPOError(.io, "\(path): write after commit") }
        if buffer.count + bytes.count > Self.bufferBytes { try flush() }
        if bytes.count >= Self.bufferBytes {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
        count += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends zero bytes until `count` is a multiple of `alignment` (a power of two).
    public func pad(to alignment: Int) throws {
        let n = (alignment - count % alignment) % alignment
        if n > 0 { try write([UInt8](repeating: 0, count: n)) }
    }

    /// Publishes the file at `path`. After it, the writer accepts no more bytes.
    public func commit() throws {
        guard fd >= 0 else { throw IBTPOError(.io, "\(path): committed twice") }
        try flush()
        if fsync(fd) != 0 { throw IBTPOError(.io, "fsync \(tmp): \(FileIO.errnoText())") }
        let f = fd
        fd = -1
        if close(f) != 0 { unlink(tmp); throw IBTPOError(.io, "close \(tmp): \(FileIO.errnoText())") }
        if rename(tmp, path) != 0 {
            let e = FileIO.errnoText()
            unlink(tmp)
            throw IBTPOError(.io, "cannot rename \(tmp) to \(path): \(e)")
        }
        let dfd = open(FileIO.directoryOf(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, base + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw IBTPOError(.io, "cannot write \(tmp): \(FileIO.errnoText())")
            }
            off += n
        }
    }
}
