import ArgumentParser
import Glibc
import IBTPO

/// `ibtpo export --model M --format hf|gguf --out PATH [--dtype ...]`: writes a model as a
/// Hugging Face directory (config.json, model.safetensors, tokenizer files) or as a
/// llama.cpp GGUF file. M is a GGUF file, a Hugging Face directory or an ibtpo checkpoint.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a model as a Hugging Face directory (safetensors) or a GGUF file.",
        discussion: """
            --model is a GGUF file (model, tokenizer and chat template from it) or an ibtpo checkpoint \
            (its model, and the tokenizer it carries as the asset tokenizer.json, if any). \
            --format hf writes config.json, generation_config.json, model.safetensors (--dtype f32 or bf16) \
            and tokenizer.json + tokenizer_config.json into the directory --out. --format gguf writes one \
            file (--dtype f32, f16 or q8_0; norms and other 1-D tensors stay f32).
            """)
    @OptionGroup var configOpts: ConfigOptions
    @Option(help: "The model: a GGUF file, a Hugging Face directory or an ibtpo checkpoint.") var model: String
    @Option(help: "hf (a directory) or gguf (a file).") var format: String
    @Option(help: "Output directory (hf) or file (gguf).") var out: String
    @Option(help: "Weight type: f32 or bf16 for hf, f32, f16 or q8_0 for gguf (default f32, exact).") var dtype: String = "f32"
    @Option(help: "The model's name in the GGUF metadata (default: the source's general.name, or the file name).")
    var name: String?

    func run() throws {
        let target: ExportTarget
        do { target = try ExportTarget(format: format, dtype: dtype) } catch let e as IBTPOError {
            // The core names the parameters as the C API does (format, dtype); here they are options.
            let m = e.message.split(separator: " ").map { $0 == "dtype" ? "--dtype" : String($0) }.joined(separator: " ")
            throw ValidationError("--" + m)
        }
        try reportingErrors {
            if let names = target.directoryFiles {
                try OutputPaths.prepareDirectory(out, option: "--out", files: names)
            } else {
                try OutputPaths.prepare([(out, "--out")])
            }
            let t0 = monotonicSeconds()
            let source = try ExportSource.load(model)
            var info = source.info
            if let name { info.name = name }
            let c = source.model.config
            print("\(model): \(source.kind), \(c.ggufArchitecture), \(ParamLayout(c).parameterCount) parameters "
                + "(d_model \(c.dModel), \(c.nLayers) layers, vocab \(c.vocab)), loaded in \(fmtSeconds2(monotonicSeconds() - t0))")
            if info.tokenizer == nil && info.tokenizerFiles["tokenizer.json"] == nil {
                print("note: \(model) has no BPE tokenizer; the export has no tokenizer files")
            }
            let progress = ByteProgress(label: "writing \(out)")
            let t1 = monotonicSeconds()
            try source.model.export(target, to: out, info: info, progress: progress.update)
            progress.finish()
            print("wrote \(out) (\(target.formatName), \(target.dtypeName)) in \(fmtSeconds2(monotonicSeconds() - t1))")
        }
    }

    private func fmtSeconds2(_ s: Double) -> String { fmt(s, 2) + " s" }
}

/// A model to export and what comes with it, read from a GGUF file or a checkpoint.
struct ExportSource {
    let model: Model
    let info: ExportInfo
    let kind: String

    /// Detects the kind of `path` by its first bytes ("GGUF" or a checkpoint's magic).
    static func load(_ path: String) throws -> ExportSource {
        var st = stat()
        guard stat(path, &st) == 0 else { throw IBTPOError(.io, "--model \(path): \(String(cString: strerror(errno)))") }
        if (st.st_mode & S_IFMT) == S_IFDIR { return try fromPretrained(path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw IBTPOError(.io, "--model \(path) is \(OutputPaths.kind(st.st_mode)), not a regular file")
        }
        let m = try magic(path)
        if m.starts(with: Array("GGUF".utf8)) { return try fromGGUF(path) }
        if m == Checkpoint.magic {
            if try Checkpoint.readHeader(path: path).assets[PretrainedModel.sourceAsset] != nil { return try fromPretrained(path) }
            return try fromCheckpoint(path)
        }
        throw IBTPOError(.badData, "\(path) is neither a GGUF file nor an ibtpo checkpoint (it starts with "
            + "\(m.map { String($0, radix: 16) }.joined(separator: " ")))")
    }

    private static func magic(_ path: String) throws -> [UInt8] {
        let f = fopen(path, "rb")
        guard let f else { throw IBTPOError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        var b = [UInt8](repeating: 0, count: 8)
        let n = fread(&b, 1, 8, f)
        return Array(b.prefix(n))
    }

    static func fromGGUF(_ path: String) throws -> ExportSource {
        let g = try GGUFFile(path: path)
        let cfg = try ModelConfig(gguf: g)
        let model = try Model(config: cfg, shape: TrainShape(batch: 1, seq: 1), threads: 1, seed: 1, initialize: false)
        try model.loadWeights(from: g)
        // A tokenizer libibtpo cannot read (SentencePiece, another pre-tokenizer) leaves the
        // weights exportable: say so, and write no tokenizer.
        var tok: BPETokenizer? = nil
        do { tok = try BPETokenizer(gguf: g) } catch let e as IBTPOError where e.status == .notSupported {
            printErr("warning: the tokenizer is not exported: \(e.message)")
        }
        let name = g.metadata["general.name"]?.string ?? baseName(path)
        let info = ExportInfo(name: name, tokenizer: tok, chatTemplate: g.metadata["tokenizer.chat_template"]?.string,
                              addBOS: g.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false)
        return ExportSource(model: model, info: info, kind: "GGUF v\(g.version)")
    }

    /// A Hugging Face directory or a checkpoint of a pretrained model (its tokenizer and
    /// template from the source it names; an HF source's tokenizer files copied verbatim; the
    /// source's context length written, not the training context).
    static func fromPretrained(_ path: String) throws -> ExportSource {
        let p = try PretrainedModel.open(path)
        var cfg = APIDefaults.trainer
        cfg.model = p.config
        cfg.batch = 1; cfg.seq = 1; cfg.threads = 1; cfg.rolloutSlots = 0
        let trainer = try Trainer(pretrained: p, config: cfg)
        var info = try ExportInfo(pretrained: p)
        if p.kind == .checkpoint { info.name = baseName(path) }
        let what = p.kind == .checkpoint ? "checkpoint (step \(trainer.step)) of \(p.source)" : "Hugging Face directory"
        return ExportSource(model: trainer.model, info: info, kind: what)
    }

    static func fromCheckpoint(_ path: String) throws -> ExportSource {
        let header = try Checkpoint.readHeader(path: path)
        var cfg = APIDefaults.trainer
        cfg.model = header.config
        cfg.batch = 1; cfg.seq = 1; cfg.threads = 1; cfg.rolloutSlots = 0
        let trainer = try Trainer(cfg)
        try Checkpoint.load(trainer, path: path)
        var files: [String: [UInt8]] = [:]
        for (k, v) in trainer.assets where k.hasSuffix(".json") { files[k] = v }
        var template: String? = nil
        if let t = trainer.assets["chat_template"] { template = String(decoding: t, as: UTF8.self) }
        let info = ExportInfo(name: baseName(path), chatTemplate: template, tokenizerFiles: files)
        return ExportSource(model: trainer.model, info: info, kind: "checkpoint (step \(header.step))")
    }

    static func baseName(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = last.lastIndex(of: "."), dot != last.startIndex { return String(last[..<dot]) }
        return last
    }
}

/// A byte-count progress line for the export: redrawn on a terminal, a line every few seconds otherwise.
final class ByteProgress {
    let label: String
    var last = 0.0
    let start = monotonicSeconds()
    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        let now = monotonicSeconds()
        guard done == total || now - last >= (stdoutIsTTY ? 0.2 : 5.0) else { return }
        last = now
        let pct = total > 0 ? 100 * Double(done) / Double(total) : 100
        let line = "\(label): \(fmt(pct, 0))% (\(formatBytes(done)) of \(formatBytes(total)))"
        if stdoutIsTTY { print("\r\u{1B}[2K" + line, terminator: "") } else { print(line) }
        fflush(stdout)
    }

    func finish() { if stdoutIsTTY { print("") } }
}
