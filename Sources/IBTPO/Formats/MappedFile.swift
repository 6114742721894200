import Glibc

/// A regular file mapped read-only into memory (`mmap`, `MAP_PRIVATE`), unmapped when the
/// object goes away. Opening refuses what is not a regular file (FIFOs, devices, directories)
/// and files above `maxBytes`, naming the path and the reason. `bytes` stays valid while the
/// object lives; the pages are read lazily by the kernel, so mapping a large model is cheap.
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    init(path: String, maxBytes: Int = .max) throws {
        let f = try RegularFile.open(path, maxBytes: maxBytes)
        defer { f.close() }
        self.path = path
        if f.size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, f.size, PROT_READ, MAP_PRIVATE, f.fd, 0), p != MAP_FAILED else {
            throw IBTPOError(.io, "cannot map \(path): \(FileIO.errnoText())")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: f.size)
    }

    deinit { if let base { munmap(base, bytes.count) } }
}
