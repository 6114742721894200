/// Where and how an export writes a model: a Hugging Face directory (safetensors F32 or
/// BF16) or a llama.cpp GGUF file (F32, F16 or Q8_0 matrices). The CLI's `--format/--dtype`
/// and the C API's `format`/`dtype` strings parse through `init(format:dtype:)`.
public enum ExportTarget: Equatable, Sendable {
    case huggingFace(SafeTensorsDType)
    case gguf(GGUFTensorType)

    /// Parses `format` ("hf" or "gguf", any case) and `dtype` ("f32", "bf16" for hf;
    /// "f32", "f16", "q8_0" for gguf; any case; nil = "f32"). Throws `.invalidArgument`
    /// naming the accepted values.
    public init(format: String, dtype: String? = nil) throws {
        let f = format.lowercased(), d = (dtype ?? "f32").lowercased()
        switch (f, d) {
        case ("hf", "f32"): self = .huggingFace(.f32)
        case ("hf", "bf16"): self = .huggingFace(.bf16)
        case ("gguf", "f32"): self = .gguf(.f32)
        case ("gguf", "f16"): self = .gguf(.f16)
        case ("gguf", "q8_0"): self = .gguf(.q8_0)
        case ("hf", _): throw invalid("format hf takes dtype f32 or bf16 (got '\(dtype ?? "")')")
        case ("gguf", _): throw invalid("format gguf takes dtype f32, f16 or q8_0 (got '\(dtype ?? "")')")
        default: throw invalid("format must be hf or gguf (got '\(format)')")
        }
    }

    /// "hf" or "gguf".
    public var formatName: String {
        if case .huggingFace = self { return "hf" }
        return "gguf"
    }

    /// "f32", "bf16", "f16" or "q8_0".
    public var dtypeName: String {
        switch self {
        case .huggingFace(let t): return t.rawValue.lowercased()
        case .gguf(let t): return t.name.lowercased()
        }
    }

    /// The file names a Hugging Face export writes into its directory (nil for GGUF: one file).
    public var directoryFiles: [String]? {
        if case .huggingFace = self { return Model.huggingFaceFiles + ["tokenizer.json", "tokenizer_config.json"] }
        return nil
    }
}

extension Model {
    /// Writes this model to `path` as `target`: `exportHF(dir:dtype:info:progress:)` or
    /// `exportGGUF(path:type:info:progress:)`, whose guarantees and errors apply. A GGUF export
    /// needs `info.tokenizer` to carry a tokenizer: tokenizer files alone (`tokenizerFiles`)
    /// are `.notSupported` there, with nothing written.
    public func export(_ target: ExportTarget, to path: String, info: ExportInfo = ExportInfo(),
                       progress: ((Int, Int) -> Void)? = nil) throws {
        switch target {
        case .huggingFace(let t):
            try exportHF(dir: path, dtype: t, info: info, progress: progress)
        case .gguf(let t):
            if info.tokenizer == nil && info.tokenizerFiles["tokenizer.json"] != nil {
                throw IBTPOError(.notSupported, "the model carries its tokenizer only as tokenizer.json files, which a GGUF "
                    + "export cannot regenerate; export it with format hf")
            }
            try exportGGUF(path: path, type: t, info: info, progress: progress)
        }
    }
}
