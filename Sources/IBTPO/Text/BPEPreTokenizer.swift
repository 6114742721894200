/// The pre-tokenizers of the byte-level BPE models libibtpo reads: how a text (between added
/// tokens) is cut into pieces before the merges. Each is a hand-written port of the regex
/// that Hugging Face `tokenizers` runs (`find_iter` with Oniguruma: at each position the
/// first alternative that matches wins, with greedy quantifiers and backtracking), using the
/// Unicode general categories of `Unicode.Scalar.Properties` for `\p{L}`, `\p{N}` and the
/// White_Space property for `\s`.
enum BPEPreTokenizer: Sendable, Equatable {
    /// GPT-2's ByteLevel regex:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// SmolLM2: `Digits(individual_digits: true)` (every \p{N} its own piece), then GPT-2's.
    case smollm
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|`
    /// ` ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// Qwen2: Llama 3's pattern with `\p{N}` (one digit per piece) for `\p{N}{1,3}`.
    case qwen2

    /// The regexes of the Split pre-tokenizers in tokenizer.json, exactly as the files have them.
    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pre-tokenizer llama.cpp calls `name` (`tokenizer.ggml.pre`), or nil.
    static func named(_ name: String) -> BPEPreTokenizer? {
        switch name {
        case "gpt2", "default": return .gpt2
        case "smollm": return .smollm
        case "llama-bpe", "llama3": return .llama3
        case "qwen2": return .qwen2
        default: return nil
        }
    }

    /// llama.cpp's name of this pre-tokenizer.
    var name: String {
        switch self {
        case .gpt2: return "gpt2"
        case .smollm: return "smollm"
        case .llama3: return "llama-bpe"
        case .qwen2: return "qwen2"
        }
    }

    /// Calls `emit` with each piece of `s[r]`, in order; the pieces tile `r` and none is empty.
    func split(_ s: [Unicode.Scalar], _ r: Range<Int>, _ emit: (Range<Int>) -> Void) {
        switch self {
        case .gpt2: Self.gpt2(s, r, emit)
        case .smollm:
            var start = r.lowerBound
            for i in r where Self.isN(s[i]) {
                if start < i { Self.gpt2(s, start..<i, emit) }
                emit(i..<(i + 1))
                start = i + 1
            }
            if start < r.upperBound { Self.gpt2(s, start..<r.upperBound, emit) }
        case .llama3: Self.llama3(s, r, maxDigits: 3, emit)
        case .qwen2: Self.llama3(s, r, maxDigits: 1, emit)
        }
    }

    static func isL(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    static func isN(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
    static func isS(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace }
    /// `[^\s\p{L}\p{N}]`
    static func isOther(_ u: Unicode.Scalar) -> Bool { !isS(u) && !isL(u) && !isN(u) }
    static func isCRLF(_ u: Unicode.Scalar) -> Bool { u == "\r" || u == "\n" }

    /// The end of the run of `p` in s[j..<n].
    @inline(__always)
    static func run(_ s: [Unicode.Scalar], from j: Int, to n: Int, _ p: (Unicode.Scalar) -> Bool) -> Int {
        var k = j
        while k < n && p(s[k]) { k += 1 }
        return k
    }

    /// `\s+(?!\S)|\s+` at i (s[i] is whitespace): the run of whitespace, less its last
    /// character when a non-space follows and the run is longer than one.
    static func spaces(_ s: [Unicode.Scalar], at i: Int, to n: Int) -> Int {
        let w = run(s, from: i, to: n, isS)
        return (w < n && w - i >= 2) ? w - 1 : w
    }

    static func gpt2(_ s: [Unicode.Scalar], _ r: Range<Int>, _ emit: (Range<Int>) -> Void) {
        let n = r.upperBound
        var i = r.lowerBound
        while i < n {
            var end = i
            let c = s[i]
            if c == "'" && i + 1 < n {
                let a = s[i + 1], b: Unicode.Scalar? = i + 2 < n ? s[i + 2] : nil
                if a == "s" || a == "t" || a == "m" || a == "d" { end = i + 2 }
                else if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { end = i + 3 }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`, in that order
            for cls in [isL, isN, isOther] where end == i {
                if c == " " && i + 1 < n && cls(s[i + 1]) { end = run(s, from: i + 1, to: n, cls) }
                else if cls(c) { end = run(s, from: i, to: n, cls) }
            }
            if end == i { end = max(spaces(s, at: i, to: n), i + 1) }
            emit(i..<end)
            i = end
        }
    }

    /// ASCII letters in lower case, and U+017F (long s), which Unicode case folding makes "s".
    static func folded(_ u: Unicode.Scalar) -> Unicode.Scalar {
        if u.value >= 0x41 && u.value <= 0x5A { return Unicode.Scalar(UInt8(u.value + 32)) }
        return u == "\u{17F}" ? "s" : u
    }

    static func llama3(_ s: [Unicode.Scalar], _ r: Range<Int>, maxDigits: Int, _ emit: (Range<Int>) -> Void) {
        let n = r.upperBound
        var i = r.lowerBound
        while i < n {
            var end = i
            let c = s[i]
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c == "'" && i + 1 < n {
                let a = folded(s[i + 1]), b: Unicode.Scalar? = i + 2 < n ? folded(s[i + 2]) : nil
                if a == "s" || a == "t" || a == "m" || a == "d" { end = i + 2 }
                else if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { end = i + 3 }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if end == i {
                if isL(c) { end = run(s, from: i, to: n, isL) }
                else if !isCRLF(c) && !isN(c) && i + 1 < n && isL(s[i + 1]) { end = run(s, from: i + 1, to: n, isL) }
            }
            // \p{N}{1,maxDigits}
            if end == i && isN(c) {
                end = i + 1
                while end < n && end - i < maxDigits && isN(s[end]) { end += 1 }
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            if end == i {
                let j = (c == " " && i + 1 < n && isOther(s[i + 1])) ? i + 1 : i
                if isOther(s[j]) { end = run(s, from: run(s, from: j, to: n, isOther), to: n, isCRLF) }
            }
            if end == i {
                // `\s*[\r\n]+`: the whitespace run up to its last CR or LF; else `\s+(?!\S)|\s+`.
                let w = run(s, from: i, to: n, isS)
                var last = -1
                for k in i..<w where isCRLF(s[k]) { last = k }
                end = last >= 0 ? last + 1 : max(spaces(s, at: i, to: n), i + 1)
            }
            emit(i..<end)
            i = end
        }
    }
}
