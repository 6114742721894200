import Glibc

/// A pretrained model named by a path: a GGUF file, a Hugging Face directory or a libibtpo
/// checkpoint of a pretrained model (which references the file it started from). Opening
/// reads the config, the tokenizer and the chat template and checks them; the weights are
/// read later, into a trainer's arena (`Trainer(pretrained:config:)`).
public struct PretrainedModel {
    public enum Kind: String, Sendable { case gguf, huggingFace = "hf", checkpoint }

    public let path: String
    public let kind: Kind
    /// The model's config, with `maxSeq` capped as requested at `open`.
    public let config: ModelConfig
    /// The model's context length as the file declares it.
    public let fileContext: Int
    public let tokenizer: BPETokenizer
    /// The chat template's source, if the model has one.
    public let chatTemplateSource: String?
    /// The template, when it is of a recognised family (nil otherwise, or without one).
    public let chatTemplate: ChatTemplate?
    /// Whether the tokenizer puts BOS in front (`BPETokenizer.addsBOS`: GGUF's
    /// add_bos_token, HF's add_bos_token or post-processor).
    public let addBOS: Bool
    /// The GGUF or HF source whose weights (and tokenizer) this is; for a checkpoint, the
    /// model it references.
    public let source: String
    let gguf: GGUFFile?
    let hf: HFDirectory?

    /// Asset names a checkpoint of a pretrained model carries.
    public static let sourceAsset = "source_model"
    public static let chatAsset = "prompt.chat"
    public static let systemAsset = "prompt.system"

    /// Opens `path`, detecting its kind from the file's first bytes (or a directory). The
    /// context is capped at `maxSeq` (at least 1), since the rope tables and any KV cache are
    /// sized by it. Throws `.notSupported` / `.badData` / `.io` naming the file and field.
    public static func open(_ path: String, maxSeq: Int? = nil) throws -> PretrainedModel {
        var st = stat()
        guard stat(path, &st) == 0 else { throw IBTPOError(.io, "\(path): no such file or directory") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard HFDirectory.isModelDirectory(path) else {
                throw IBTPOError(.notSupported, "\(path): a directory without config.json is not a Hugging Face model")
            }
            return try PretrainedModel(hf: try HFDirectory(path: path), maxSeq: maxSeq)
        }
        let f = try RegularFile.open(path)
        var magic = [UInt8](repeating: 0, count: min(8, f.size))
        try magic.withUnsafeMutableBytes { if let b = $0.baseAddress { try f.read(into: b, count: $0.count, at: 0) } }
        f.close()
        if magic.starts(with: Array("GGUF".utf8)) { return try PretrainedModel(gguf: try GGUFFile(path: path), maxSeq: maxSeq) }
        if magic == Checkpoint.magic { return try openCheckpoint(path) }
        throw IBTPOError(.notSupported, "\(path): not a GGUF file, a Hugging Face directory or a libibtpo checkpoint")
    }

    /// The model of a GGUF file (architectures of `ModelConfig.ggufArchitectures`).
    public init(gguf g: GGUFFile, maxSeq: Int? = nil) throws {
        let full = try ModelConfig(gguf: g)
        var c = full
        if let maxSeq { c.maxSeq = max(1, min(maxSeq, full.maxSeq)) }
        try c.validate()
        try Model.checkTensors(c, in: g)   // before any arena is sized from the metadata
        path = g.path; kind = .gguf; config = c; fileContext = full.maxSeq; source = absolutePath(g.path); gguf = g
        hf = nil
        tokenizer = try BPETokenizer(gguf: g)
        guard tokenizer.vocabSize <= c.vocab else {
            throw IBTPOError(.badData, "\(g.path): the tokenizer has \(tokenizer.vocabSize) tokens, the model's vocab is \(c.vocab)")
        }
        chatTemplateSource = g.metadata["tokenizer.chat_template"]?.string
        chatTemplate = chatTemplateSource.flatMap { try? ChatTemplate(source: $0) }
        addBOS = tokenizer.addsBOS
    }

    /// The model of a Hugging Face directory (config.json, safetensors, tokenizer.json,
    /// tokenizer_config.json; architectures of `ModelConfig.hfArchitectures`).
    public init(hf d: HFDirectory, maxSeq: Int? = nil) throws {
        let full = try ModelConfig(hf: d)
        var c = full
        if let maxSeq { c.maxSeq = max(1, min(maxSeq, full.maxSeq)) }
        try c.validate()
        try Model.checkTensors(c, in: d.weights)   // before any arena is sized from config.json
        path = d.path; kind = .huggingFace; config = c; fileContext = full.maxSeq; source = absolutePath(d.path)
        gguf = nil; hf = d
        tokenizer = try BPETokenizer(hf: d)
        guard tokenizer.vocabSize <= c.vocab else {
            throw IBTPOError(.badData, "\(d.path): the tokenizer has \(tokenizer.vocabSize) tokens, the model's vocab is \(c.vocab)")
        }
        chatTemplateSource = try HFTokenizerConfig(directory: d.path).chatTemplate
        chatTemplate = chatTemplateSource.flatMap { try? ChatTemplate(source: $0) }
        addBOS = tokenizer.addsBOS
    }

    /// A checkpoint of a pretrained model: the config from its header, tokenizer and template
    /// from the source model it names (asset `source_model`), which must describe the same
    /// architecture.
    static func openCheckpoint(_ path: String) throws -> PretrainedModel {
        let h = try Checkpoint.readHeader(path: path)
        guard let src = h.assets[sourceAsset].map({ String(decoding: $0, as: UTF8.self) }) else {
            throw IBTPOError(.notSupported, "\(path): this checkpoint is of a model libibtpo initialised, not of a "
                + "pretrained one (no \(sourceAsset) asset); load it with --checkpoint")
        }
        let base: PretrainedModel
        do { base = try open(src, maxSeq: h.config.maxSeq) } catch let e as IBTPOError {
            throw IBTPOError(e.status, "\(path): its source model cannot be read: \(e.message)")
        }
        var want = h.config
        want.maxSeq = base.config.maxSeq
        guard want == base.config else {
            throw IBTPOError(.configMismatch, "\(path): its config \(h.config) differs from its source model \(src)'s \(base.config)")
        }
        return PretrainedModel(path: path, kind: .checkpoint, config: h.config, fileContext: base.fileContext,
                               tokenizer: base.tokenizer, chatTemplateSource: base.chatTemplateSource,
                               chatTemplate: base.chatTemplate, addBOS: base.addBOS, source: src, gguf: base.gguf,
                               hf: base.hf)
    }

    init(path: String, kind: Kind, config: ModelConfig, fileContext: Int, tokenizer: BPETokenizer,
         chatTemplateSource: String?, chatTemplate: ChatTemplate?, addBOS: Bool, source: String, gguf: GGUFFile?,
         hf: HFDirectory?) {
        self.path = path; self.kind = kind; self.config = config; self.fileContext = fileContext
        self.tokenizer = tokenizer; self.chatTemplateSource = chatTemplateSource; self.chatTemplate = chatTemplate
        self.addBOS = addBOS; self.source = source; self.gguf = gguf; self.hf = hf
    }

    /// The prompt format of this model: its BOS rule, and its chat template when `chat`
    /// (throws `.notSupported` naming the template when it is not of a recognised family,
    /// `.badData` when the model has none).
    public func promptFormat(chat: Bool, system: String? = nil) throws -> PromptFormat {
        guard chat else { return PromptFormat(addBOS: addBOS, chat: nil, system: system) }
        guard let src = chatTemplateSource else {
            throw IBTPOError(.badData, "\(path): the model has no chat template; use raw prompts")
        }
        do { return PromptFormat(addBOS: addBOS, chat: try ChatTemplate(source: src), system: system) }
        catch let e as IBTPOError { throw IBTPOError(e.status, "\(path): \(e.message)") }
    }

    /// Copies the weights into `model` (whose config must equal `config`). For a checkpoint
    /// this reads the source model's weights; `Trainer(pretrained:)` then loads the checkpoint.
    public func loadWeights(into model: Model) throws {
        if let g = gguf { return try model.loadWeights(from: g) }
        guard let d = hf else { throw IBTPOError(.internalError, "\(path): no weight source") }
        try model.loadWeights(fromHF: d)
    }
}

extension Trainer {
    /// The chat template of the prompt format, else the one the model's source names
    /// (nil for models without one). Throws `.notSupported` for an unrecognised template.
    public func chatTemplate() throws -> ChatTemplate? {
        if let c = promptFormat.chat { return c }
        guard let src = chatTemplateSource else { return nil }
        return try ChatTemplate(source: src)
    }

    /// A trainer whose model is `p` (its config with `config`'s batch, seq, optimiser and
    /// sampling settings; `config.model` is ignored), with `p`'s tokenizer and `format`
    /// (default: `p.promptFormat(chat: false)`). A checkpoint's weights, moments, step and
    /// RNG are restored; the assets that make a later checkpoint self-describing are set.
    /// Nothing is allocated before the config is checked.
    public convenience init(pretrained p: PretrainedModel, config: TrainerConfig, format: PromptFormat? = nil) throws {
        var c = config
        c.model = p.config
        guard c.seq <= p.config.maxSeq else {
            throw invalid("seq \(c.seq) exceeds the model's context as opened (\(p.config.maxSeq))")
        }
        try self.init(c, tokenizer: p.tokenizer, initialize: false)
        try p.loadWeights(into: model)
        promptFormat = try format ?? p.promptFormat(chat: false)
        chatTemplateSource = p.chatTemplateSource
        if p.kind == .checkpoint {
            let state = try Checkpoint.load(self, path: p.path)
            _ = state
            if let chat = assets[PretrainedModel.chatAsset], chat == Array("1".utf8), format == nil {
                promptFormat = try p.promptFormat(chat: true, system: assets[PretrainedModel.systemAsset].map {
                    String(decoding: $0, as: UTF8.self) })
            }
        }
        assets[PretrainedModel.sourceAsset] = Array(p.source.utf8)
        assets[PretrainedModel.chatAsset] = Array((promptFormat.chat != nil ? "1" : "0").utf8)
        if let s = promptFormat.system { assets[PretrainedModel.systemAsset] = Array(s.utf8) }
        else { assets[PretrainedModel.systemAsset] = nil }
    }
}

/// `path` made absolute (symlinks resolved), or `path` itself when that fails: a checkpoint
/// names its source model so that it can be resumed from another directory.
func absolutePath(_ path: String) -> String {
    guard let r = realpath(path, nil) else { return path }
    defer { free(r) }
    return String(cString: r)
}
