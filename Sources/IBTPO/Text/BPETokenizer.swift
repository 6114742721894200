/// Byte-level BPE as GPT-2, SmolLM2, Llama 3 and Qwen2 use it, built from a GGUF file's
/// tokenizer metadata (`init(gguf:)`) or a Hugging Face tokenizer.json (`init(hf:)`).
/// Encoding follows Hugging Face `tokenizers` step by step:
///  1. NFC normalisation when the tokenizer has it (Qwen2);
///  2. added tokens written in the text (special ones such as `<|im_start|>`, and
///     non-special added tokens) are matched first, leftmost and longest first, and become
///     their own ids;
///  3. the rest is pre-tokenized (`BPEPreTokenizer`: GPT-2's, SmolLM2's, Llama 3's or
///     Qwen2's split, hand-written, no regex engine);
///  4. each piece's UTF-8 bytes go through GPT-2's byte-to-character map and the merges,
///     lowest rank first (with `ignore_merges`, a piece that is itself in the vocabulary is
///     taken whole, as Llama 3's tokenizer does), and the symbols are looked up.
public struct BPETokenizer: Tokenizer {
    /// One token matched in the text before pre-tokenization. Special tokens (GGUF type 3,
    /// HF `special: true`) are dropped by `decode` unless asked for; the others (GGUF type 4,
    /// HF added tokens with `special: false`) always decode to their text.
    struct AddedToken {
        var text: String
        var id: Int32
        var special: Bool
    }

    public let vocabSize: Int
    public let bos: Int32, eos: Int32, pad: Int32
    /// Whether the model's tokenizer puts BOS in front of a text it encodes with special
    /// tokens (HF `add_special_tokens=True`, llama.cpp's add_bos). `encode` never adds it.
    public let addsBOS: Bool
    /// The pre-tokenizer, by llama.cpp's name: "gpt2" (or "default"), "smollm", "llama-bpe", "qwen2".
    public let preTokenizer: String
    let split: BPEPreTokenizer
    let nfc: Bool
    let ignoreMerges: Bool
    /// Each id's text (internal: the exporters write it back out).
    let tokens: [String]
    private let ids: [String: Int32]
    /// "left right" → merge rank.
    let ranks: [String: Int]
    /// Per id: a special added token (GGUF type 3, "control").
    let isControl: [Bool]
    /// Per id: a non-special added token (GGUF type 4, "user defined").
    let isUserDefined: [Bool]
    private let added: [(text: [Unicode.Scalar], id: Int32)]   // longest first

    /// A tokenizer from its parts. `tokens[id]` is each id's text (byte-mapped symbols for
    /// ordinary tokens, plain text for added ones); `merges` in rank order (a merge whose
    /// halves contain U+0020 can never apply to byte-mapped symbols and is left out); the
    /// special ids must be valid ids. Throws `.badData` naming `source` for an added token
    /// out of range or empty.
    init(tokens: [String], merges: [(String, String)], added: [AddedToken], split: BPEPreTokenizer,
         preTokenizer: String, nfc: Bool, ignoreMerges: Bool, bos: Int32, eos: Int32, pad: Int32,
         addsBOS: Bool, source: String) throws {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        var control = [Bool](repeating: false, count: tokens.count), user = control
        var matched: [(text: [Unicode.Scalar], id: Int32)] = []
        for a in added {
            guard a.id >= 0 && Int(a.id) < tokens.count, !a.text.isEmpty else {
                throw IBTPOError(.badData, "\(source): added token \(a.id) '\(a.text)' is empty or not a token id")
            }
            if a.special { control[Int(a.id)] = true } else { user[Int(a.id)] = true }
            matched.append((Array(a.text.unicodeScalars), a.id))
        }
        for (i, t) in tokens.enumerated() where !t.isEmpty && ids[t] == nil { ids[t] = Int32(i) }
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (r, m) in merges.enumerated() where !m.0.contains(" ") && !m.1.contains(" ") {
            let key = m.0 + " " + m.1
            if ranks[key] == nil { ranks[key] = r }
        }
        // Longest first; among equal lengths the lower id, so the order does not depend on the file's.
        matched.sort { $0.text.count != $1.text.count ? $0.text.count > $1.text.count : $0.id < $1.id }
        vocabSize = tokens.count
        self.bos = bos; self.eos = eos; self.pad = pad; self.addsBOS = addsBOS
        self.preTokenizer = preTokenizer
        self.split = split; self.nfc = nfc; self.ignoreMerges = ignoreMerges
        self.tokens = tokens
        self.ids = ids
        self.ranks = ranks
        self.added = matched
        self.isControl = control
        self.isUserDefined = user
    }

    /// Tokens of `text` exactly as HF `tokenizer(text, add_special_tokens=False)`: added
    /// tokens in the text are recognised, no BOS is added.
    public func encode(_ text: String) -> [Int32] {
        let s = Array((nfc ? BPETokenizer.nfc(text) : text).unicodeScalars)
        var out: [Int32] = []
        var start = 0, i = 0
        while i < s.count {
            if let (len, id) = addedMatch(s, at: i) {
                encodePlain(s, start..<i, into: &out)
                out.append(id)
                i += len; start = i
            } else {
                i += 1
            }
        }
        encodePlain(s, start..<s.count, into: &out)
        return out
    }

    /// Text of `tokens` (U+FFFD for invalid UTF-8 and unknown ids); special tokens are kept
    /// as their text when `keepSpecial`, dropped otherwise (the `Tokenizer` contract); other
    /// added tokens are always their text.
    public func decode(_ tokens: [Int32], keepSpecial: Bool) -> String {
        var bytes: [UInt8] = []
        for t in tokens {
            guard t >= 0 && Int(t) < self.tokens.count else { bytes += [0xEF, 0xBF, 0xBD]; continue }
            if isControl[Int(t)] {
                if keepSpecial { bytes += Array(self.tokens[Int(t)].utf8) }
            } else if isUserDefined[Int(t)] {
                bytes += Array(self.tokens[Int(t)].utf8)
            } else {
                for u in self.tokens[Int(t)].unicodeScalars {
                    if let b = ByteMap.byte[u] { bytes.append(b) } else { bytes += Array(String(u).utf8) }
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func decode(_ tokens: [Int32]) -> String { decode(tokens, keepSpecial: false) }

    /// The id of the token whose text is exactly `text` (an added token's text, or an
    /// ordinary token's byte-mapped symbols), or nil.
    public func id(of text: String) -> Int32? {
        if let a = added.first(where: { String(String.UnicodeScalarView($0.text)) == text }) { return a.id }
        return ids[text]
    }

    // MARK: steps

    /// NFC of `text` (the standard library's normaliser; ASCII is returned as it is).
    static func nfc(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        text._withNFCCodeUnits { bytes.append($0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func addedMatch(_ s: [Unicode.Scalar], at i: Int) -> (Int, Int32)? {
        for c in added where c.text.count <= s.count - i {
            var ok = true
            for k in 0..<c.text.count where s[i + k] != c.text[k] { ok = false; break }
            if ok { return (c.text.count, c.id) }
        }
        return nil
    }

    private func encodePlain(_ s: [Unicode.Scalar], _ r: Range<Int>, into out: inout [Int32]) {
        if r.isEmpty { return }
        split.split(s, r) { bpe(s[$0], into: &out) }
    }

    /// Byte-maps one pre-token and applies the merges, lowest rank first.
    private func bpe(_ piece: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var bytes: [UInt8] = []
        for u in piece { bytes += Array(String(u).utf8) }
        var sym = bytes.map { String(ByteMap.char[Int($0)]) }
        if ignoreMerges, let id = ids[sym.joined()] {
            out.append(id)
            return
        }
        while sym.count > 1 {
            var best = Int.max, at = -1
            for k in 0..<(sym.count - 1) {
                if let r = ranks[sym[k] + " " + sym[k + 1]], r < best { best = r; at = k }
            }
            if at < 0 { break }
            let left = sym[at], right = sym[at + 1]
            var merged: [String] = []
            merged.reserveCapacity(sym.count)
            var k = 0
            while k < sym.count {
                if k + 1 < sym.count && sym[k] == left && sym[k + 1] == right {
                    merged.append(left + right); k += 2
                } else {
                    merged.append(sym[k]); k += 1
                }
            }
            sym = merged
        }
        for t in sym {
            if let id = ids[t] {
                out.append(id)
            } else {
                // Not in the vocabulary (a broken file): fall back to its bytes' symbols.
                for u in t.unicodeScalars { if let id = ids[String(u)] { out.append(id) } }
            }
        }
    }
}

/// GPT-2's reversible map between bytes and printable characters: the printable bytes
/// '!'…'~', '¡'…'¬', '®'…'ÿ' stand for themselves, the other 68 take U+0100… in order.
enum ByteMap {
    static let char: [Unicode.Scalar] = {
        var keep = Set<Int>()
        for r in [33...126, 161...172, 174...255] { for b in r { keep.insert(b) } }
        var n = 0
        return (0..<256).map { b in
            if keep.contains(b) { return Unicode.Scalar(UInt8(b)) }
            defer { n += 1 }
            return Unicode.Scalar(UInt32(256 + n))!
        }
    }()
    static let byte: [Unicode.Scalar: UInt8] = {
        var m: [Unicode.Scalar: UInt8] = [:]
        for (b, u) in char.enumerated() { m[u] = UInt8(b) }
        return m
    }()
}
