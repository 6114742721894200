/// What an export writes besides the weights and the config: the model's name, its
/// tokenizer and chat template, or the tokenizer files of a Hugging Face source to copy.
public struct ExportInfo {
    /// `general.name` in GGUF files.
    public var name: String
    /// The tokenizer to regenerate tokenizer.json / tokenizer.ggml.* from; nil writes none
    /// (a byte-level libibtpo model), unless `tokenizerFiles` has them.
    public var tokenizer: BPETokenizer?
    /// The Jinja chat template (GGUF `tokenizer.chat_template`, tokenizer_config's `chat_template`).
    public var chatTemplate: String?
    /// Whether the tokenizer puts BOS in front of a text (`tokenizer.ggml.add_bos_token`).
    public var addBOS: Bool
    /// Tokenizer files of a Hugging Face source directory (file name → bytes:
    /// tokenizer.json, tokenizer_config.json, special_tokens_map.json, …), copied into a
    /// Hugging Face export verbatim instead of regenerated when it holds "tokenizer.json".
    public var tokenizerFiles: [String: [UInt8]]
    /// The context length to write (max_position_embeddings, `<arch>.context_length`) when it
    /// is not the model's max_seq: a model trained with a short context keeps its source's.
    public var contextLength: Int?

    public init(name: String = "libibtpo model", tokenizer: BPETokenizer? = nil, chatTemplate: String? = nil,
                addBOS: Bool = false, tokenizerFiles: [String: [UInt8]] = [:]) {
        self.name = name; self.tokenizer = tokenizer; self.chatTemplate = chatTemplate; self.addBOS = addBOS
        self.tokenizerFiles = tokenizerFiles
    }
}

extension ExportInfo {
    /// The tokenizer files of a Hugging Face directory that an export copies verbatim.
    public static let huggingFaceTokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                   "chat_template.jinja"]

    /// What a model opened as `p` is exported with: its tokenizer, BOS rule and chat template,
    /// its source's context length (not a shorter training context), the source's name
    /// (a GGUF's `general.name`, else the file or directory name), and — for a Hugging Face
    /// source, or a checkpoint of one — the directory's tokenizer files
    /// (`huggingFaceTokenizerFiles` that exist), copied verbatim. Throws `.io` when a
    /// tokenizer file of the source exists but cannot be read.
    public init(pretrained p: PretrainedModel) throws {
        var files: [String: [UInt8]] = [:]
        if HFDirectory.isDirectory(p.source) {
            for f in Self.huggingFaceTokenizerFiles where HFDirectory.isFile(p.source + "/" + f) {
                files[f] = try FileIO.read(p.source + "/" + f, maxBytes: HFDirectory.maxTokenizerBytes)
            }
        }
        var name = p.source.split(separator: "/").last.map(String.init) ?? p.source
        if name.hasSuffix(".gguf") { name.removeLast(5) }
        if let n = p.gguf?.metadata["general.name"]?.string, !n.isEmpty { name = n }
        self.init(name: name, tokenizer: p.tokenizer, chatTemplate: p.chatTemplateSource, addBOS: p.addBOS,
                  tokenizerFiles: files)
        contextLength = p.fileContext
    }

    /// What `t`'s model is exported with: for a pretrained model, `init(pretrained:)` of the
    /// source its `source_model` asset names (opened again: the tokenizer files, the name,
    /// the context length), with the trainer's chat template; for a model libibtpo
    /// initialised (byte tokenizer), no tokenizer. Throws what opening the source throws.
    public init(trainer t: Trainer) throws {
        guard let src = t.assets[PretrainedModel.sourceAsset].map({ String(decoding: $0, as: UTF8.self) }) else {
            self.init(tokenizer: t.tokenizer as? BPETokenizer, chatTemplate: t.chatTemplateSource,
                      addBOS: (t.tokenizer as? BPETokenizer)?.addsBOS ?? false)
            return
        }
        try self.init(pretrained: PretrainedModel.open(src))
        chatTemplate = t.chatTemplateSource ?? chatTemplate
    }
}

extension Model {
    /// The file names `exportHF` writes besides the tokenizer's.
    public static let huggingFaceFiles = ["config.json", "generation_config.json", "model.safetensors"]

    /// Writes a Hugging Face model directory that `transformers.AutoModelForCausalLM
    /// .from_pretrained(dir)` loads (creating `dir` and its parents when missing):
    /// config.json (`ModelConfig.huggingFaceConfig`), generation_config.json,
    /// model.safetensors (`huggingFaceTensors`, as `dtype`, F32 exact or BF16 rounded to
    /// nearest even) and the tokenizer: `info.tokenizerFiles` copied verbatim when they hold
    /// tokenizer.json (plus a tokenizer_config.json carrying `info.chatTemplate` when they
    /// have none), else tokenizer.json and tokenizer_config.json regenerated from
    /// `info.tokenizer`, else none. Every file is written atomically; everything that can be
    /// refused (the config, the tokenizer, a file name) is checked before the first write.
    /// `progress(done, total)` follows the weight bytes. Throws `.notSupported` (RoPE factors
    /// config.json cannot express), `.invalidArgument` (a tokenizer larger than the
    /// vocabulary, a file name with a slash), `.io`.
    public func exportHF(dir: String, dtype: SafeTensorsDType, info: ExportInfo = ExportInfo(),
                         progress: ((Int, Int) -> Void)? = nil) throws {
        let tok = info.tokenizer
        if let tok, tok.vocabSize > config.vocab {
            throw invalid("the tokenizer has \(tok.vocabSize) tokens, more than the model's vocabulary of \(config.vocab)")
        }
        let config = exportConfig(info)
        let cfg = try config.huggingFaceConfig(torchDtype: dtype.torchName, bos: tok?.bos, eos: tok?.eos, pad: tok?.pad)
        var files: [(String, [UInt8])] = [("config.json", cfg.serialized(indent: 2) + [0x0A])]
        var gen: [(String, JSONDoc)] = []
        if let tok { gen = [("bos_token_id", .int(Int(tok.bos))), ("eos_token_id", .int(Int(tok.eos))), ("pad_token_id", .int(Int(tok.pad)))] }
        files.append(("generation_config.json", JSONDoc.object(gen).serialized(indent: 2) + [0x0A]))
        if info.tokenizerFiles["tokenizer.json"] != nil {
            for (name, bytes) in info.tokenizerFiles.sorted(by: { $0.key < $1.key }) {
                guard !name.isEmpty, !name.contains("/"), name != ".", name != "..",
                      !Model.huggingFaceFiles.contains(name) else {
                    throw invalid("tokenizer file name '\(name)' is not a plain file name of its own")
                }
                files.append((name, bytes))
            }
            if info.tokenizerFiles["tokenizer_config.json"] == nil, let t = info.chatTemplate {
                let tc = JSONDoc.object([("tokenizer_class", .string("PreTrainedTokenizerFast")), ("chat_template", .string(t)),
                                         ("model_max_length", .int(config.maxSeq))])
                files.append(("tokenizer_config.json", tc.serialized(indent: 2) + [0x0A]))
            }
        } else if let tok {
            files.append(("tokenizer.json", tok.huggingFaceJSON(addBOS: info.addBOS).serialized(indent: 2) + [0x0A]))
            let tc = tok.huggingFaceTokenizerConfig(chatTemplate: info.chatTemplate, addBOS: info.addBOS, maxLength: config.maxSeq)
            files.append(("tokenizer_config.json", tc.serialized(indent: 2) + [0x0A]))
        }
        try FileIO.makeDirectories(dir)
        let base = dir.hasSuffix("/") ? dir : dir + "/"
        let tensors = huggingFaceTensors().map { SafeTensorsWriter.Tensor(name: $0.name, shape: $0.shape, data: $0.data) }
        try SafeTensorsWriter.write(path: base + "model.safetensors", tensors: tensors, dtype: dtype, progress: progress)
        for (name, bytes) in files { try FileIO.writeAtomically(base + name, bytes) }
    }

    /// Writes a llama.cpp GGUF v3 file of this model (`ggufTensors(type:)`, matrices as
    /// `type`: F32 exact, F16 or Q8_0 as ggml rounds them; architecture `llama`, or `qwen2`
    /// for a model with q/k/v biases) with the metadata llama.cpp needs
    /// (`ModelConfig.ggufMetadata`) and, when `info.tokenizer` is set, its tokenizer
    /// (`BPETokenizer.ggufMetadata`, with `info.chatTemplate`). Written atomically.
    /// Throws `.invalidArgument` for a type other than F32, F16, Q8_0, a tokenizer larger
    /// than the vocabulary or a Q8_0 weight that is not finite; `.io`.
    public func exportGGUF(path: String, type: GGUFTensorType, info: ExportInfo = ExportInfo(),
                           progress: ((Int, Int) -> Void)? = nil) throws {
        guard GGUFQuantize.writable.contains(type), let fileType = type.ggufFileType else {
            throw invalid("GGUF export writes F32, F16 or Q8_0, not \(type.name)")
        }
        var w = GGUFWriter()
        let config = exportConfig(info)
        w.metadata = config.ggufMetadata(name: info.name, fileType: fileType)
        if let tok = info.tokenizer {
            w.metadata += try tok.ggufMetadata(modelVocab: config.vocab, chatTemplate: info.chatTemplate, addBOS: info.addBOS)
        } else if let t = info.chatTemplate {
            w.metadata.append(("tokenizer.chat_template", .string(t)))
        }
        w.tensors = ggufTensors(type: type)
        try w.write(path: path, progress: progress)
    }
}

extension Model {
    /// The config an export describes: this model's, with `info.contextLength` as max_seq.
    func exportConfig(_ info: ExportInfo) -> ModelConfig {
        var c = config
        if let n = info.contextLength, n >= 1 { c.maxSeq = n }
        return c
    }
}
