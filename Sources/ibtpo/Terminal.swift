import Glibc
import IBTPO

func printErr(_ s: String) {
    fputs(s + "\n", stderr)
}

/// Fixed-precision formatting without Foundation.
func fmt(_ x: Double, _ digits: Int = 3) -> String {
    if !x.isFinite { return "\(x)" }
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, 64, "%.\(digits)f", $0) }
    return String(cString: buf)
}

/// Scientific notation, e.g. 3.00e-03.
func fmtSci(_ x: Double, _ digits: Int = 2) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, 64, "%.\(digits)e", $0) }
    return String(cString: buf)
}

func fmtSeconds(_ s: Double) -> String {
    if !s.isFinite || s < 0 { return "?" }
    let t = Int(s.rounded())
    return t >= 60 ? "\(t / 60)m\(t % 60 < 10 ? "0" : "")\(t % 60)s" : "\(t)s"
}

/// True when stdout is a terminal (progress lines are then redrawn in place).
var stdoutIsTTY: Bool { isatty(1) == 1 }

/// `mkdir -p`: creates `path` and its missing parents.
func makeDirectories(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw IBTPOError(.io, "cannot create directory \(prefix): \(String(cString: strerror(errno)))")
        }
    }
}
