import Glibc

/// Whole-file reads through POSIX calls (the module does not use Foundation).
enum FileBytes {
    /// The bytes of the regular file at `path` (at most `maxBytes`), or the reason it could not
    /// be read: strerror text, the kind of file (FIFOs, devices and directories are refused
    /// before anything is read, see `RegularFile`), or the size limit.
    static func read(path: String, maxBytes: Int = .max) -> Result<[UInt8], FileReadError> {
        do {
            return .success(try FileIO.read(path, maxBytes: maxBytes))
        } catch let e as IBTPOError {
            // FileIO's messages name the path; the dataset error names it already.
            var reason = e.message
            for prefix in ["cannot open \(path): ", "cannot stat \(path): ", "cannot read \(path): ", "\(path) "]
            where reason.hasPrefix(prefix) {
                reason = (prefix == "\(path) " ? "it " : "") + String(reason.dropFirst(prefix.count)); break
            }
            return .failure(FileReadError(reason: reason))
        } catch {
            return .failure(FileReadError(reason: "\(error)"))
        }
    }
}

struct FileReadError: Error {
    let reason: String
}
