/// Byte-level BPE from Hugging Face's tokenizer.json (the `tokenizers` serialisation), with
/// the special tokens of tokenizer_config.json.
extension BPETokenizer {
    /// The tokenizer of the model directory `dir` (see `init(hfTokenizerAt:modelConfig:)`),
    /// with config.json's bos/eos ids as a fallback for the special tokens.
    public init(hf dir: HFDirectory) throws {
        try self.init(hfTokenizerAt: dir.path, modelConfig: dir.config)
    }

    /// The tokenizer in the directory `dir`: tokenizer.json, with tokenizer_config.json (and
    /// chat_template.jinja) read by `HFTokenizerConfig(directory:)`; the directory needs no
    /// weights. Throws `.notSupported` when there is no tokenizer.json, and the errors of
    /// `init(tokenizerJSON:config:modelConfig:source:)`.
    public init(hfTokenizerAt dir: String, modelConfig: JSONValue? = nil) throws {
        let path = dir + "/tokenizer.json"
        guard HFDirectory.isFile(path) else {
            let slow = ["tokenizer.model", "vocab.json", "merges.txt"].filter { HFDirectory.isFile(dir + "/" + $0) }
            throw IBTPOError(.notSupported, "\(dir): no tokenizer.json"
                + (slow.isEmpty ? "" : " (found \(slow.joined(separator: ", ")); libibtpo reads the fast tokenizer's "
                    + "tokenizer.json only: save it with AutoTokenizer.from_pretrained(...).save_pretrained(dir))"))
        }
        try self.init(tokenizerJSON: HFDirectory.readJSON(path, maxBytes: HFDirectory.maxTokenizerBytes),
                      config: HFTokenizerConfig(directory: dir), modelConfig: modelConfig, source: path)
    }

    /// The tokenizer that tokenizer.json's content `t` describes. Reads model.type "BPE"
    /// (vocab, merges as "a b" strings or [a, b] pairs, ignore_merges), added_tokens (their
    /// `special` flag), the normalizer (none or NFC), the pre-tokenizer (GPT-2's ByteLevel,
    /// SmolLM2's Digits + ByteLevel, Llama 3's and Qwen2's Split regex + ByteLevel, recognised
    /// by their exact regex) and a ByteLevel decoder. BOS/EOS/PAD come from `config`'s token
    /// texts, else `modelConfig`'s bos_token_id / eos_token_id, else EOS (and 0); `addsBOS`
    /// from add_bos_token, else from a post-processor template that starts with a special
    /// token. Throws `.notSupported` naming `source` and the part for other models (Unigram,
    /// WordPiece, SentencePiece-style BPE with byte_fallback or '▁'), pre-tokenizers,
    /// normalizers, decoders and added-token options (lstrip, rstrip, single_word);
    /// `.badData` for malformed or inconsistent content.
    public init(tokenizerJSON t: JSONValue, config: HFTokenizerConfig = HFTokenizerConfig(), modelConfig: JSONValue? = nil,
                source: String) throws {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badData, "\(source): \(m)") }
        func unsupported(_ m: String) -> IBTPOError { IBTPOError(.notSupported, "\(source): \(m)") }
        let sentencePiece = "SentencePiece-style BPE (Llama 2, TinyLlama) is not supported, only byte-level BPE "
            + "(GPT-2, SmolLM2, Llama 3, Qwen2)"
        guard t.object != nil else { throw bad("the top level is a \(t.typeName), not an object") }
        guard let model = t["model"], model.object != nil else { throw bad("model is missing or not an object") }
        let type = model["type"]?.string ?? (model["merges"] != nil ? "BPE" : "(none)")
        guard type == "BPE" else {
            throw unsupported("tokenizer model '\(type)' is not supported (byte-level BPE is)")
        }
        if model["byte_fallback"]?.bool == true { throw unsupported("byte_fallback: \(sentencePiece)") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key]?.string, !s.isEmpty { throw unsupported("\(key) '\(s)' is not supported (byte-level BPE has none)") }
        }
        if let d = model["dropout"], !d.isNull, d.number != 0 {
            throw unsupported("BPE dropout is not supported (encoding would be random)")
        }
        let nfc = try Self.hfNormalizer(t["normalizer"], unsupported, sentencePiece)
        let split = try Self.hfPreTokenizer(t["pre_tokenizer"], unsupported, sentencePiece)
        try Self.hfDecoder(t["decoder"], unsupported, sentencePiece)

        // The vocabulary and the added tokens.
        let maxTokens = 1 << 21
        guard let vocab = model["vocab"]?.object else { throw bad("model.vocab is missing or not an object") }
        var size = 0
        var byID: [Int: String] = [:]
        byID.reserveCapacity(vocab.count)
        for (tok, v) in vocab {
            guard let id = v.int, id >= 0, id < maxTokens else { throw bad("vocab entry '\(tok)' has id \(v), not one in 0..<\(maxTokens)") }
            if let other = byID[id] { throw bad("tokens '\(other)' and '\(tok)' both have id \(id)") }
            byID[id] = tok
            size = max(size, id + 1)
        }
        var added: [AddedToken] = []
        for (k, a) in (t["added_tokens"]?.array ?? []).enumerated() {
            guard let id = a["id"]?.int, id >= 0, id < maxTokens, let text = a["content"]?.string, !text.isEmpty else {
                throw bad("added_tokens[\(k)] needs an id in 0..<\(maxTokens) and a non-empty content")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where a[flag]?.bool == true {
                throw unsupported("added token '\(text)' has \(flag) = true, which libibtpo does not implement")
            }
            added.append(AddedToken(text: text, id: Int32(id), special: a["special"]?.bool ?? false))
            size = max(size, id + 1)
        }
        guard size >= 1 else { throw bad("the vocabulary is empty") }
        var tokens = [String](repeating: "", count: size)
        for (id, tok) in byID { tokens[id] = tok }
        for a in added { tokens[Int(a.id)] = a.text }

        // The merges, checked as `tokenizers` checks them: both halves and the result in the vocabulary.
        var merges: [(String, String)] = []
        let list = model["merges"]?.array ?? []
        merges.reserveCapacity(list.count)
        for (r, m) in list.enumerated() {
            let pair: (String, String)
            if let s = m.string {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw bad("merge \(r) '\(s)' is not 'left right'") }
                pair = (String(parts[0]), String(parts[1]))
            } else if let a = m.array, a.count == 2, let l = a[0].string, let rt = a[1].string {
                pair = (l, rt)
            } else {
                throw bad("merge \(r) is neither 'left right' nor [left, right]")
            }
            for part in [pair.0, pair.1, pair.0 + pair.1] where vocab[part] == nil {
                throw bad("merge \(r) (\(pair.0) \(pair.1)): '\(part)' is not in the vocabulary")
            }
            merges.append(pair)
        }

        // The special ids.
        func id(of text: String, _ what: String) throws -> Int32 {
            if let a = added.first(where: { $0.text == text }) { return a.id }
            if let v = vocab[text]?.int { return Int32(v) }
            throw bad("\(what) '\(text)' (tokenizer_config.json) is not a token")
        }
        func configID(_ key: String) -> Int32? {
            guard let v = modelConfig?[key] else { return nil }
            let i = v.int ?? v.array?.first?.int
            guard let i, i >= 0, i < size else { return nil }
            return Int32(i)
        }
        let eos = try config.eosToken.map { try id(of: $0, "eos_token") } ?? configID("eos_token_id") ?? 0
        let bos = try config.bosToken.map { try id(of: $0, "bos_token") } ?? configID("bos_token_id") ?? eos
        let pad = try config.padToken.map { try id(of: $0, "pad_token") } ?? eos
        let addsBOS = config.addBosToken ?? Self.hfTemplateStartsWithSpecial(t["post_processor"])

        try self.init(tokens: tokens, merges: merges, added: added, split: split, preTokenizer: split.name, nfc: nfc,
                      ignoreMerges: model["ignore_merges"]?.bool ?? false, bos: bos, eos: eos, pad: pad,
                      addsBOS: addsBOS, source: source)
    }

    // MARK: the recognised parts of tokenizer.json

    /// Whether the normalizer is NFC (true) or absent (false); anything else is refused.
    static func hfNormalizer(_ n: JSONValue?, _ unsupported: (String) -> IBTPOError, _ sp: String) throws -> Bool {
        guard let n, !n.isNull else { return false }
        let type = n["type"]?.string ?? "(none)"
        let steps = type == "Sequence" ? (n["normalizers"]?.array ?? []) : [n]
        let types = steps.map { $0["type"]?.string ?? "(none)" }
        if types.isEmpty { return false }
        if types == ["NFC"] { return true }
        if types.contains(where: { $0 == "Prepend" || $0 == "Replace" }) { throw unsupported("normalizer \(types): \(sp)") }
        throw unsupported("normalizer \(types.joined(separator: ", ")) is not supported (none and NFC are)")
    }

    /// The pre-tokenizer of one of the recognised forms.
    static func hfPreTokenizer(_ p: JSONValue?, _ unsupported: (String) -> IBTPOError, _ sp: String) throws -> BPEPreTokenizer {
        guard let p, !p.isNull else {
            throw unsupported("tokenizer.json has no pre_tokenizer; only byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen2) is supported")
        }
        let type = p["type"]?.string ?? "(none)"
        let steps = type == "Sequence" ? (p["pretokenizers"]?.array ?? []) : [p]
        let types = steps.map { $0["type"]?.string ?? "(none)" }
        let shape = types.count == 1 ? types[0] : "Sequence[\(types.joined(separator: ", "))]"
        if types.contains("Metaspace") { throw unsupported("pre-tokenizer \(shape): \(sp)") }
        func byteLevel(_ s: JSONValue, useRegex: Bool) throws -> Bool {
            guard s["type"]?.string == "ByteLevel" else { return false }
            guard s["add_prefix_space"]?.bool == false else {
                throw unsupported("pre-tokenizer ByteLevel with add_prefix_space is not supported")
            }
            return (s["use_regex"]?.bool ?? true) == useRegex
        }
        if steps.count == 1, try byteLevel(steps[0], useRegex: true) { return .gpt2 }
        if steps.count == 2, types[0] == "Digits", steps[0]["individual_digits"]?.bool == true,
           try byteLevel(steps[1], useRegex: true) {
            return .smollm
        }
        if steps.count == 2, types[0] == "Split", try byteLevel(steps[1], useRegex: false) {
            let s = steps[0]
            guard let regex = s["pattern"]?["Regex"]?.string else {
                throw unsupported("pre-tokenizer Split with a plain-string pattern is not supported")
            }
            guard s["behavior"]?.string == "Isolated", s["invert"]?.bool != true else {
                throw unsupported("pre-tokenizer Split with behavior \(s["behavior"]?.string ?? "?") (invert \(s["invert"]?.bool ?? false)) "
                    + "is not supported (Isolated is)")
            }
            switch regex {
            case BPEPreTokenizer.llama3Regex: return .llama3
            case BPEPreTokenizer.qwen2Regex: return .qwen2
            case BPEPreTokenizer.gpt2Regex: return .gpt2
            default:
                throw unsupported("pre-tokenizer Split regex \(regex.debugDescription) is not supported (GPT-2's, Llama 3's "
                    + "and Qwen2's are)")
            }
        }
        throw unsupported("pre-tokenizer \(shape) is not supported (ByteLevel, Sequence[Digits, ByteLevel] and "
            + "Sequence[Split, ByteLevel] with GPT-2's, Llama 3's or Qwen2's regex are)")
    }

    /// Accepts a ByteLevel decoder (alone or as the only step of a Sequence).
    static func hfDecoder(_ d: JSONValue?, _ unsupported: (String) -> IBTPOError, _ sp: String) throws {
        guard let d, !d.isNull else { throw unsupported("tokenizer.json has no decoder (a ByteLevel decoder is needed)") }
        let type = d["type"]?.string ?? "(none)"
        let steps = type == "Sequence" ? (d["decoders"]?.array ?? []) : [d]
        let types = steps.map { $0["type"]?.string ?? "(none)" }
        guard types == ["ByteLevel"] else {
            if types.contains(where: { $0 == "Metaspace" || $0 == "ByteFallback" || $0 == "Replace" }) {
                throw unsupported("decoder \(types): \(sp)")
            }
            throw unsupported("decoder \(types.joined(separator: ", ")) is not supported (ByteLevel is)")
        }
    }

    /// Whether the post-processor's single-sequence template starts with a special token
    /// (Llama 3's TemplateProcessing that puts <|begin_of_text|> in front).
    static func hfTemplateStartsWithSpecial(_ p: JSONValue?) -> Bool {
        guard let p, !p.isNull else { return false }
        let steps = p["type"]?.string == "Sequence" ? (p["processors"]?.array ?? []) : [p]
        for s in steps where s["type"]?.string == "TemplateProcessing" {
            if s["single"]?.array?.first?["SpecialToken"] != nil { return true }
        }
        return false
    }
}
