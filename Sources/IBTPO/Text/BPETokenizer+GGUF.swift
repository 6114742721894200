extension BPETokenizer {
    /// The tokenizer of a GGUF file whose `tokenizer.ggml.model` is "gpt2" (byte-level BPE):
    /// tokens, merges ("left right"), token types (3 = control → special added token,
    /// 4 = user-defined → non-special added token), the pre-tokenizer name (gpt2/default,
    /// smollm, llama-bpe, qwen2), the special ids and add_bos. As llama.cpp does, "llama-bpe"
    /// takes a piece that is a whole token without merging (Llama 3's `ignore_merges`), and
    /// as Hugging Face's Qwen2 tokenizer does, "qwen2" normalises the text to NFC. Throws
    /// `.notSupported` for other models or pre-tokenizers (naming them), `.badData` for
    /// missing or inconsistent metadata.
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
        let types = g.metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? []
        guard types.isEmpty || types.count == toks.count else { throw bad("token_type has \(types.count) entries for \(toks.count) tokens") }
        let pre = g.metadata["tokenizer.ggml.pre"]?.string ?? "gpt2"
        guard let split = BPEPreTokenizer.named(pre) else {
            throw IBTPOError(.notSupported, "\(g.path): pre-tokenizer '\(pre)' is not supported (gpt2, smollm, llama-bpe, qwen2 are)")
        }
        var merges: [(String, String)] = []
        for (r, m) in (g.metadata["tokenizer.ggml.merges"]?.array ?? []).enumerated() {
            guard let s = m.string, let sp = s.firstIndex(of: " ") else { throw bad("merge \(r) is not 'left right'") }
            merges.append((String(s[..<sp]), String(s[s.index(after: sp)...])))
        }
        func special(_ key: String, _ fallback: Int32) throws -> Int32 {
            guard let v = g.metadata["tokenizer.ggml." + key] else { return fallback }
            guard let i = v.int, i >= 0, i < toks.count else { throw bad("tokenizer.ggml.\(key) is not a token id") }
            return Int32(i)
        }
        var added: [AddedToken] = []
        for (i, ty) in types.enumerated() where (ty == 3 || ty == 4) && !toks[i].isEmpty {
            added.append(AddedToken(text: toks[i], id: Int32(i), special: ty == 3))
        }
        let eos = try special("eos_token_id", 0)
        try self.init(tokens: toks, merges: merges, added: added, split: split, preTokenizer: pre,
                      nfc: split == .qwen2, ignoreMerges: split == .llama3,
                      bos: try special("bos_token_id", 0), eos: eos, pad: try special("padding_token_id", eos),
                      addsBOS: g.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, source: g.path)
    }
}
