import Glibc
import IBTPO

/// The JSON Lines logs written by `ibtpo train --log`: one flat object per line (per-step
/// metrics, or held-out evaluation records), read back as numeric fields.
enum TrainingLog {
    /// Every line of `path` as its numeric fields (other values are skipped). Throws
    /// `.badData` naming the line if one is not a JSON object.
    static func rows(_ path: String) throws -> [[String: Double]] {
        try lines(path, tolerateTornLast: false).rows
    }

    /// The non-empty lines of `path` with their numeric fields. With `tolerateTornLast`, a
    /// final line that lacks its newline or does not parse is dropped (`torn` is then true);
    /// any other line that is not a JSON object throws `.badData` naming the line.
    static func lines(_ path: String, tolerateTornLast: Bool)
        throws -> (text: [ArraySlice<UInt8>], rows: [[String: Double]], torn: Bool) {
        let bytes = try FileIO.read(path)
        var parts = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // The piece after the last newline is empty for a well-formed file.
        let unterminated = parts.last.map { !$0.isEmpty } ?? false
        var text: [ArraySlice<UInt8>] = [], rows: [[String: Double]] = [], torn = false
        let lastIndex = parts.lastIndex { !$0.isEmpty }
        if !unterminated, !parts.isEmpty { parts.removeLast() }
        for (i, line) in parts.enumerated() where !line.isEmpty {
            let parsed = try? JSONParser.parse(line)
            let isLast = i == lastIndex
            guard case let .object(obj) = parsed, !(isLast && unterminated && tolerateTornLast) else {
                if isLast && tolerateTornLast { torn = true; continue }
                throw IBTPOError(.badData, "\(path):\(i + 1): not a JSON object")
            }
            var row: [String: Double] = [:]
            for (k, v) in obj { if case let .number(d) = v { row[k] = d } }
            rows.append(row); text.append(line)
        }
        return (text, rows, torn)
    }

    /// Prepares the log of a run resumed after RL (or SFT) step `k`: drops a torn final line
    /// (printing a one-line notice), then every record whose "step" is above `k`, and the
    /// records at step `k` that `keepAtK` rejects (e.g. the final evaluation of an
    /// interrupted run); rewrites the file atomically if anything was dropped. A missing file
    /// is left missing. Returns the rows kept.
    @discardableResult
    static func rewind(_ path: String, toStep k: Int, keepAtK: ([String: Double]) -> Bool) throws -> [[String: Double]] {
        guard access(path, F_OK) == 0 else { return [] }
        let (text, rows, torn) = try lines(path, tolerateTornLast: true)
        if torn { print("\(path): dropped a torn last line (the previous run was killed while writing it)") }
        var kept: [ArraySlice<UInt8>] = [], keptRows: [[String: Double]] = []
        for (line, row) in zip(text, rows) {
            let s = row["step"].map { Int($0) } ?? 0
            if s < k || (s == k && keepAtK(row)) { kept.append(line); keptRows.append(row) }
        }
        if torn || kept.count != text.count {
            var out: [UInt8] = []
            for l in kept { out += l; out.append(UInt8(ascii: "\n")) }
            try FileIO.writeAtomically(path, out)
            if kept.count != text.count {
                print("\(path): dropped \(text.count - kept.count) records after step \(k) (written after the checkpoint)")
            }
        }
        return keptRows
    }
}
