import IBTPO

/// The JSON Lines logs written by `ibtpo train --log`: one flat object per line (per-step
/// metrics, or held-out evaluation records), read back as numeric fields.
enum TrainingLog {
    /// Every line of `path` as its numeric fields (other values are skipped). Throws
    /// `.badData` naming the line if one is not a JSON object.
    static func rows(_ path: String) throws -> [[String: Double]] {
        var rows: [[String: Double]] = []
        for (i, line) in try FileIO.read(path).split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            guard case let .object(obj) = try? JSONParser.parse(line) else {
                throw IBTPOError(.badData, "\(path):\(i + 1): not a JSON object")
            }
            var row: [String: Double] = [:]
            for (k, v) in obj { if case let .number(d) = v { row[k] = d } }
            rows.append(row)
        }
        return rows
    }
}
