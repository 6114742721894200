import Glibc

extension FileIO {
    /// `mkdir -p`: creates `path` and its missing parents (mode 0755). Throws `.io` naming
    /// the first directory that cannot be created, or a path that exists and is not a directory.
    public static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw IBTPOError(.io, "cannot create directory \(prefix): \(errnoText())")
            }
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw IBTPOError(.io, "cannot stat \(path): \(errnoText())") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw IBTPOError(.io, "\(path) exists and is not a directory")
        }
    }
}
