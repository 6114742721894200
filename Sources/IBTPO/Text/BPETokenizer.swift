/// Byte-level BPE as GPT-2, SmolLM2, Llama 3 and Qwen2 use it, built from a GGUF file's
/// tokenizer metadata (`tokenizer.ggml.model` = "gpt2": tokens, merges, token types, the
/// pre-tokenizer name). Encoding follows Hugging Face `tokenizers` step by step:
///  1. control tokens (type 3, e.g. `<|im_start|>`) written in the text are matched first,
///     longest first, and become their own ids;
///  2. the rest is pre-tokenized: for the "smollm" pre-tokenizer every digit is its own piece
///     (`Digits(individual_digits)`), then GPT-2's pattern
///     `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` splits
///     each piece (hand-written, no regex engine);
///  3. each piece's UTF-8 bytes go through GPT-2's byte-to-character map and the merges,
///     lowest rank first, and the symbols are looked up in the vocabulary.
/// Supported pre-tokenizers: "smollm" and "gpt2" (others throw `.notSupported`, naming it).
public struct BPETokenizer: Tokenizer {
    public let vocabSize: Int
    public let bos: Int32, eos: Int32, pad: Int32
    public let preTokenizer: String
    private let tokens: [String]
    private let ids: [String: Int32]
    private let ranks: [String: Int]        // "left right" → merge rank
    private let control: [(text: [Unicode.Scalar], id: Int32)]
    private let isControl: [Bool]
    private let splitDigits: Bool

    public init(gguf g: GGUFFile) throws {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badData, "\(g.path): \(m)") }
        let model = g.metadata["tokenizer.ggml.model"]?.string ?? "(none)"
        guard model == "gpt2" else {
            throw IBTPOError(.notSupported, "\(g.path): tokenizer model '\(model)' is not supported (gpt2 byte-level BPE is)")
        }
        guard let toks = g.metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !toks.isEmpty,
              toks.count == g.metadata["tokenizer.ggml.tokens"]?.array?.count else {
            throw bad("tokenizer.ggml.tokens is missing or not a list of strings")
        }
        let merges = g.metadata["tokenizer.ggml.merges"]?.array ?? []
        let types = g.metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? []
        guard types.isEmpty || types.count == toks.count else { throw bad("token_type has \(types.count) entries for \(toks.count) tokens") }
        let pre = g.metadata["tokenizer.ggml.pre"]?.string ?? "gpt2"
        guard pre == "smollm" || pre == "gpt2" || pre == "default" else {
            throw IBTPOError(.notSupported, "\(g.path): pre-tokenizer '\(pre)' is not supported yet (smollm, gpt2 are)")
        }
        var ids: [String: Int32] = [:]
        for (i, t) in toks.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        var ranks: [String: Int] = [:]
        for (r, m) in merges.enumerated() {
            guard let s = m.string, s.contains(" ") else { throw bad("merge \(r) is not 'left right'") }
            if ranks[s] == nil { ranks[s] = r }
        }
        func special(_ key: String, _ fallback: Int32) throws -> Int32 {
            guard let v = g.metadata["tokenizer.ggml." + key] else { return fallback }
            guard let i = v.int, i >= 0, i < toks.count else { throw bad("tokenizer.ggml.\(key) is not a token id") }
            return Int32(i)
        }
        vocabSize = toks.count
        bos = try special("bos_token_id", 0)
        eos = try special("eos_token_id", 0)
        pad = try special("padding_token_id", eos)
        preTokenizer = pre
        splitDigits = pre == "smollm"
        tokens = toks
        self.ids = ids
        self.ranks = ranks
        var ctl = [Bool](repeating: false, count: toks.count)
        var c: [(text: [Unicode.Scalar], id: Int32)] = []
        for (i, ty) in types.enumerated() where ty == 3 {
            ctl[i] = true
            c.append((Array(toks[i].unicodeScalars), Int32(i)))
        }
        control = c.sorted { $0.text.count > $1.text.count }
        isControl = ctl
    }

    /// Tokens of `text` exactly as HF `tokenizer(text, add_special_tokens=False)`: control
    /// tokens in the text are recognised, no BOS is added.
    public func encode(_ text: String) -> [Int32] {
        let s = Array(text.unicodeScalars)
        var out: [Int32] = []
        var start = 0, i = 0
        while i < s.count {
            if let (len, id) = controlMatch(s, at: i) {
                encodePlain(s[start..<i], into: &out)
                out.append(id)
                i += len; start = i
            } else {
                i += 1
            }
        }
        encodePlain(s[start..<s.count], into: &out)
        return out
    }

    /// Text of `tokens` (U+FFFD for invalid UTF-8 and unknown ids); control tokens are kept
    /// as their text when `keepSpecial`, dropped otherwise (the `Tokenizer` contract).
    public func decode(_ tokens: [Int32], keepSpecial: Bool) -> String {
        var bytes: [UInt8] = []
        for t in tokens {
            guard t >= 0 && Int(t) < self.tokens.count else { bytes += [0xEF, 0xBF, 0xBD]; continue }
            if isControl[Int(t)] {
                if keepSpecial { bytes += Array(self.tokens[Int(t)].utf8) }
                continue
            }
            for u in self.tokens[Int(t)].unicodeScalars {
                if let b = ByteMap.byte[u] { bytes.append(b) } else { bytes += Array(String(u).utf8) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func decode(_ tokens: [Int32]) -> String { decode(tokens, keepSpecial: false) }

    // MARK: steps

    private func controlMatch(_ s: [Unicode.Scalar], at i: Int) -> (Int, Int32)? {
        for c in control where c.text.count <= s.count - i {
            var ok = true
            for k in 0..<c.text.count where s[i + k] != c.text[k] { ok = false; break }
            if ok { return (c.text.count, c.id) }
        }
        return nil
    }

    private func encodePlain(_ s: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        if s.isEmpty { return }
        var piece: [Unicode.Scalar] = []
        func flush() { if !piece.isEmpty { regexSplit(piece, into: &out); piece.removeAll() } }
        for u in s {
            if splitDigits && Self.isN(u) {
                flush()
                regexSplit([u], into: &out)
            } else {
                piece.append(u)
            }
        }
        flush()
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

    /// GPT-2's pattern over one piece, each match then byte-mapped and merged.
    private func regexSplit(_ s: [Unicode.Scalar], into out: inout [Int32]) {
        let n = s.count
        var i = 0
        func run(from j: Int, _ p: (Unicode.Scalar) -> Bool) -> Int {
            var k = j
            while k < n && p(s[k]) { k += 1 }
            return k
        }
        let other: (Unicode.Scalar) -> Bool = { !Self.isS($0) && !Self.isL($0) && !Self.isN($0) }
        while i < n {
            var end = i
            let c = s[i]
            if c == "'" && i + 1 < n {
                let a = s[i + 1], b: Unicode.Scalar? = i + 2 < n ? s[i + 2] : nil
                if a == "s" || a == "t" || a == "m" || a == "d" { end = i + 2 }
                else if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { end = i + 3 }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`, in that order
            for cls in [Self.isL, Self.isN, other] where end == i {
                if c == " " && i + 1 < n && cls(s[i + 1]) { end = run(from: i + 1, cls) }
                else if cls(c) { end = run(from: i, cls) }
            }
            if end == i {
                // `\s+(?!\S)`, else `\s+`
                let w = run(from: i, Self.isS)
                end = (w < n && w - i >= 2) ? w - 1 : max(w, i + 1)
            }
            bpe(s[i..<end], into: &out)
            i = end
        }
    }

    /// Byte-maps one pre-token and applies the merges, lowest rank first.
    private func bpe(_ piece: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var bytes: [UInt8] = []
        for u in piece { bytes += Array(String(u).utf8) }
        var sym = bytes.map { String(ByteMap.char[Int($0)]) }
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
