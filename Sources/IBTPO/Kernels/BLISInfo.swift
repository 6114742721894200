import CBLIS

/// What BLIS reports about itself at run time.
public enum BLISInfo {
    /// The BLIS version string, e.g. "0.9.0".
    public static var version: String {
        guard let p = bli_info_get_version_str() else { return "unknown" }
        return String(cString: p)
    }
    /// The kernel set BLIS selected for this CPU, e.g. "zen3".
    public static var architecture: String {
        guard let p = bli_arch_string(bli_arch_query_id()) else { return "unknown" }
        return String(cString: p)
    }
}
