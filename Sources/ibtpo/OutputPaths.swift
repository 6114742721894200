import Glibc
import IBTPO

/// Checks on the files a training command writes, done before the first step so that a run
/// does not train for an hour and then fail to save.
enum OutputPaths {
    static func reason() -> String { String(cString: strerror(errno)) }

    /// Refuses `path` (named `option` in messages, e.g. "--out") unless it is a regular file or
    /// does not exist yet; creates its directory if missing and checks that the directory is
    /// writable. Errors are `.io` and carry the errno text.
    static func check(_ path: String, option: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw IBTPOError(.io, "\(option) \(path) is \(kind(st.st_mode)), not a regular file")
            }
        } else if errno != ENOENT {
            throw IBTPOError(.io, "\(option) \(path): \(reason())")
        }
        let dir = parentDirectory(path)
        try makeDirectories(dir)
        guard access(dir, W_OK | X_OK) == 0 else {
            throw IBTPOError(.io, "\(option) \(path): directory \(dir) is not writable: \(reason())")
        }
    }

    /// For an output directory (`option` in messages): refuses `path` if it exists and is not
    /// a directory, creates it and its parents if missing, and checks that it is writable;
    /// then removes stale temporaries of the files `names` inside it. Errors are `.io`.
    static func prepareDirectory(_ path: String, option: String, files names: [String]) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw IBTPOError(.io, "\(option) \(path) is \((st.st_mode & S_IFMT) == S_IFREG ? "a regular file" : kind(st.st_mode)), "
                    + "not a directory")
            }
        } else if errno != ENOENT {
            throw IBTPOError(.io, "\(option) \(path): \(reason())")
        }
        try makeDirectories(path)
        guard access(path, W_OK | X_OK) == 0 else {
            throw IBTPOError(.io, "\(option) \(path): the directory is not writable: \(reason())")
        }
        let base = path.hasSuffix("/") ? path : path + "/"
        for n in names { removeStaleTemporaries(of: base + n) }
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }

    /// Removes the stale temporaries `<path>.tmp.<pid>` that an atomic write of `path` by a
    /// killed process left behind: only names of exactly that form, only when no process
    /// `<pid>` is alive (kill(pid, 0) fails with ESRCH), or when `<pid>` is this process
    /// (which has not written yet). Prints one notice per file removed; returns the count.
    @discardableResult
    static func removeStaleTemporaries(of path: String) -> Int {
        let dir = parentDirectory(path)
        let base = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        let prefix = base + ".tmp."
        guard let d = opendir(dir) else { return 0 }
        defer { closedir(d) }
        var stale: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasPrefix(prefix) else { continue }
            let digits = name.dropFirst(prefix.count)
            guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let pid = Int32(digits), pid > 0 else { continue }
            let dead = pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH)
            if dead { stale.append(name) }
        }
        var removed = 0
        for name in stale {
            let full = dir == "/" ? "/" + name : dir + "/" + name
            if unlink(full) == 0 {
                print("removed stale temporary \(full) (its process is gone)")
                removed += 1
            }
        }
        return removed
    }

    /// `check` and then `removeStaleTemporaries` for each (path, option) given.
    static func prepare(_ outputs: [(path: String, option: String)]) throws {
        for o in outputs { try check(o.path, option: o.option) }
        for o in outputs { removeStaleTemporaries(of: o.path) }
    }
}
