// The shared completion structure: step lines, then one final answer line.

/// Parsing of completions of the form
///
///     <step 1><delim><step 2><delim>…<step n><delim>answer: <text>[<delim>]
///
/// Rules (all tasks):
/// - The completion is split on the step delimiter. At most one trailing delimiter is allowed
///   (a model may emit it before EOS); anything else after the answer line makes it malformed.
/// - The last step must start with the marker `answer:`; no earlier step may start with it.
/// - Zero or more steps may come before the answer line.
public enum AnswerLine {
    /// The answer marker. Built-in tasks write exactly one space after it.
    public static let marker = "answer:"

    /// The answer line for `answer` as built-in tasks write it: "answer: <answer>".
    public static func line(_ answer: String) -> String { marker + " " + answer }

    /// Splits a completion into its steps and the raw text after the marker (not trimmed).
    /// Returns nil if the completion does not have the structure above.
    public static func parse(_ completion: String, delimiter: String) -> (steps: [Substring], answer: Substring)? {
        var parts = split(completion, on: delimiter)
        if parts.count >= 2, let last = parts.last, last.isEmpty { parts.removeLast() }
        guard let last = parts.last, last.utf8.starts(with: marker.utf8) else { return nil }
        let steps = parts.dropLast()
        for step in steps where step.utf8.starts(with: marker.utf8) { return nil }
        let answerStart = last.utf8.index(last.startIndex, offsetBy: marker.utf8.count)
        return (Array(steps), last[answerStart...])
    }

    /// Splits `text` on every occurrence of `delimiter` (exact, byte-wise on UTF-8), keeping empty parts.
    /// An empty delimiter yields the whole text as one part.
    public static func split(_ text: String, on delimiter: String) -> [Substring] {
        guard !delimiter.isEmpty else { return [text[...]] }
        if delimiter.utf8.count == 1, let d = delimiter.utf8.first {
            return text.utf8.split(separator: d, omittingEmptySubsequences: false).map { Substring($0) }
        }
        var result: [Substring] = []
        var start = text.startIndex
        var i = text.startIndex
        let dl = delimiter.utf8.count
        while i < text.endIndex {
            if text.utf8[i...].starts(with: delimiter.utf8) {
                result.append(text[start..<i])
                i = text.utf8.index(i, offsetBy: dl)
                start = i
            } else {
                i = text.utf8.index(after: i)
            }
        }
        result.append(text[start...])
        return result
    }
}

/// Canonical non-negative decimal integers: ASCII digits only, no sign, no spaces,
/// no leading zeros (except "0" itself), and no overflow of Int.
enum Decimal {
    static func parse<S: StringProtocol>(_ text: S) -> Int? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        if bytes.count > 1 && bytes[0] == UInt8(ascii: "0") { return nil }
        var value = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        return value
    }
}
