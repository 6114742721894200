/// A byte-level BPE tokenizer written back out: Hugging Face's tokenizer.json and
/// tokenizer_config.json, and llama.cpp's `tokenizer.ggml.*` GGUF metadata.
extension BPETokenizer {
    /// The merges as "left right" strings, lowest rank (applied first) first.
    public var merges: [String] { ranks.sorted { $0.value < $1.value }.map(\.key) }

    /// The vocabulary in id order.
    public var vocabulary: [String] { tokens }

    /// Whether id `i` is a control token (type 3: `<|im_start|>` …), matched whole in text.
    public func isControlToken(_ i: Int) -> Bool { i >= 0 && i < isControl.count && isControl[i] }

    /// The text of token `id` ("" outside the vocabulary).
    func tokenText(_ id: Int32) -> String { id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : "" }

    /// tokenizer.json (the `tokenizers` library's format, version 1.0) that encodes and
    /// decodes as this tokenizer: the vocabulary, the merges in rank order, the added tokens
    /// (special for control tokens, not special for user-defined ones; normalized false, so
    /// they are matched in raw text), the NFC normalizer when the tokenizer has it (Qwen2),
    /// the pre-tokenizer of its family — SmolLM's Digits(individual_digits) + GPT-2
    /// ByteLevel regex, GPT-2's ByteLevel, Llama 3's and Qwen2's Split regex + ByteLevel —,
    /// `ignore_merges` as the tokenizer has it (Llama 3), and the ByteLevel decoder. With
    /// `addBOS`, a TemplateProcessing post-processor puts BOS in front of every encoding
    /// (Llama 3's way); otherwise the ByteLevel one, which adds nothing.
    public func huggingFaceJSON(addBOS: Bool) -> JSONDoc {
        let byteLevel: (Bool) -> JSONDoc = { regex in
            .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
                     ("use_regex", .bool(regex))])
        }
        func splitRegex(_ pattern: String) -> JSONDoc {
            .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern))])),
                     ("behavior", .string("Isolated")), ("invert", .bool(false))])
        }
        let normalizer: JSONDoc = nfc ? .object([("type", .string("NFC"))]) : .null
        let pre: JSONDoc
        switch split {
        case .smollm:
            pre = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel(true)]))])
        case .gpt2:
            pre = byteLevel(true)
        case .llama3:
            pre = .object([("type", .string("Sequence")),
                           ("pretokenizers", .array([splitRegex(BPEPreTokenizer.llama3Regex), byteLevel(false)]))])
        case .qwen2:
            pre = .object([("type", .string("Sequence")),
                           ("pretokenizers", .array([splitRegex(BPEPreTokenizer.qwen2Regex), byteLevel(false)]))])
        }
        let post: JSONDoc
        if addBOS {
            let b = tokenText(bos)
            let bosPiece: JSONDoc = .object([("SpecialToken", .object([("id", .string(b)), ("type_id", .int(0))]))])
            func seq(_ id: String, _ type: Int) -> JSONDoc {
                .object([("Sequence", .object([("id", .string(id)), ("type_id", .int(type))]))])
            }
            post = .object([
                ("type", .string("TemplateProcessing")),
                ("single", .array([bosPiece, seq("A", 0)])),
                ("pair", .array([bosPiece, seq("A", 0), .object([("SpecialToken", .object([("id", .string(b)), ("type_id", .int(1))]))]),
                                 seq("B", 1)])),
                ("special_tokens", .object([(b, .object([("id", .string(b)), ("ids", .array([.int(Int(bos))])),
                                                         ("tokens", .array([.string(b)]))]))])),
            ])
        } else {
            post = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(false)),
                            ("use_regex", .bool(true))])
        }
        var seen = Set<String>()
        var vocab: [(String, JSONDoc)] = []
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where seen.insert(t).inserted { vocab.append((t, .int(i))) }
        return .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(addedTokens.map { .object([("id", .int($0.id))] + $0.flags) })),
            ("normalizer", normalizer),
            ("pre_tokenizer", pre),
            ("post_processor", post),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
                ("byte_fallback", .bool(false)), ("ignore_merges", .bool(ignoreMerges)),
                ("vocab", .object(vocab)), ("merges", .array(merges.map { .string($0) })),
            ])),
        ])
    }

    /// Whether id `i` is a non-special added token (GGUF type 4, "user defined").
    public func isUserDefinedToken(_ i: Int) -> Bool { i >= 0 && i < isUserDefined.count && isUserDefined[i] }

    /// The added tokens (control and user-defined) in id order, with the flags
    /// tokenizer.json and tokenizer_config.json give them (content first).
    private var addedTokens: [(id: Int, flags: [(String, JSONDoc)])] {
        tokens.indices.filter { isControlToken($0) || isUserDefinedToken($0) }.map { i in
            (i, [("content", .string(tokens[i])), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                 ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(isControlToken(i)))])
        }
    }

    /// tokenizer_config.json for transformers' AutoTokenizer: the tokenizer class
    /// (PreTrainedTokenizerFast, which takes tokenizer.json as written), the BOS, EOS and PAD
    /// tokens, add_bos_token, the added tokens, the chat template (when given) and
    /// model_max_length.
    public func huggingFaceTokenizerConfig(chatTemplate: String?, addBOS: Bool, maxLength: Int) -> JSONDoc {
        var m: [(String, JSONDoc)] = [
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("add_bos_token", .bool(addBOS)),
            ("add_eos_token", .bool(false)),
            ("add_prefix_space", .bool(false)),
            ("added_tokens_decoder", .object(addedTokens.map { (String($0.id), .object($0.flags)) })),
            ("bos_token", .string(tokenText(bos))),
            ("eos_token", .string(tokenText(eos))),
            ("pad_token", .string(tokenText(pad))),
            ("clean_up_tokenization_spaces", .bool(false)),
            ("model_max_length", .int(maxLength)),
        ]
        if let chatTemplate { m.append(("chat_template", .string(chatTemplate))) }
        return .object(m)
    }

    /// llama.cpp's tokenizer metadata: tokenizer.ggml.model "gpt2", .pre, .tokens,
    /// .token_type (1 normal, 3 control, 4 user-defined), .merges, the BOS/EOS/padding ids, .add_bos_token,
    /// and tokenizer.chat_template when given. A model whose embedding has more rows than
    /// the vocabulary (Qwen2 pads to a multiple of 128) gets "[PAD<i>]" tokens of type 5
    /// (unused) for the rest, as llama.cpp's converter writes them. Throws
    /// `.invalidArgument` when the vocabulary is larger than `modelVocab`.
    public func ggufMetadata(modelVocab: Int, chatTemplate: String?, addBOS: Bool) throws
        -> [(key: String, value: GGUFMetadataValue)] {
        guard tokens.count <= modelVocab else {
            throw invalid("the tokenizer has \(tokens.count) tokens, more than the model's vocabulary of \(modelVocab)")
        }
        var toks = tokens
        var types = tokens.indices.map { Int32(isControlToken($0) ? 3 : isUserDefinedToken($0) ? 4 : 1) }
        for i in tokens.count..<modelVocab { toks.append("[PAD\(i)]"); types.append(5) }
        var m: [(key: String, value: GGUFMetadataValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(preTokenizer)),
            ("tokenizer.ggml.tokens", .strings(toks)),
            ("tokenizer.ggml.token_type", .int32s(types)),
            ("tokenizer.ggml.merges", .strings(merges)),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(clamping: bos))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(clamping: eos))),
            ("tokenizer.ggml.padding_token_id", .uint32(UInt32(clamping: pad))),
            ("tokenizer.ggml.add_bos_token", .bool(addBOS)),
        ]
        if let chatTemplate { m.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return m
    }
}
