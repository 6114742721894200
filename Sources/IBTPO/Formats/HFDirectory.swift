import Glibc

/// A Hugging Face model directory as `save_pretrained` writes it: `config.json`, the weights
/// in `model.safetensors` or in shards listed by `model.safetensors.index.json`, and the
/// tokenizer files (`tokenizer.json`, `tokenizer_config.json`, maybe `chat_template.jinja`),
/// which `BPETokenizer(hf:)` reads. Opening parses config.json and maps the weights; it does
/// not interpret the config (`ModelConfig(hfConfig:)` does).
public final class HFDirectory {
    public let path: String
    /// config.json, parsed.
    public let config: JSONValue
    /// The safetensors weights (one file or the shards of the index).
    public let weights: SafeTensorsSet

    /// Bounds on the JSON files read (real ones: config ~1 kB, tokenizer.json up to ~20 MB).
    public static let maxConfigBytes = 16 << 20
    public static let maxTokenizerBytes = 256 << 20

    /// Opens the directory `path`. Throws `.io` when it is not a directory or config.json
    /// cannot be read, `.badData` when config.json is not a JSON object, `.notSupported` when
    /// there are no safetensors weights (e.g. only pytorch_model.bin), and the errors of
    /// `SafeTensorsSet`.
    public init(path: String) throws {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard Self.isDirectory(p) else { throw IBTPOError(.io, "\(p) is not a directory") }
        self.path = p
        config = try Self.readJSON(p + "/config.json", maxBytes: Self.maxConfigBytes)
        guard config.object != nil else {
            throw IBTPOError(.badData, "\(p)/config.json: the top level is a \(config.typeName), not an object")
        }
        if Self.isFile(p + "/model.safetensors.index.json") {
            weights = try SafeTensorsSet(index: p + "/model.safetensors.index.json")
        } else if Self.isFile(p + "/model.safetensors") {
            weights = try SafeTensorsSet(file: p + "/model.safetensors")
        } else {
            let other = ["pytorch_model.bin", "pytorch_model.bin.index.json", "model.bin", "tf_model.h5", "flax_model.msgpack"]
                .filter { Self.isFile(p + "/" + $0) }
            throw IBTPOError(.notSupported, "\(p): no model.safetensors or model.safetensors.index.json"
                + (other.isEmpty ? "" : " (found \(other.joined(separator: ", ")); libibtpo reads safetensors only: "
                    + "re-save with save_pretrained(..., safe_serialization=True))"))
        }
    }

    /// `path/name`.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Whether `path/name` is a regular file.
    public func has(_ name: String) -> Bool { Self.isFile(file(name)) }

    /// Whether `path` looks like a Hugging Face model directory (a directory holding
    /// config.json), for callers that detect the kind of a model path.
    public static func isModelDirectory(_ path: String) -> Bool { isDirectory(path) && isFile(path + "/config.json") }

    /// Reads and parses the JSON file `path` (at most `maxBytes`). Throws `.io` when it cannot
    /// be read, `.badData` naming the file and the position when it is not valid JSON.
    public static func readJSON(_ path: String, maxBytes: Int) throws -> JSONValue {
        let bytes = try FileIO.read(path, maxBytes: maxBytes)
        do { return try JSONParser.parse(bytes) } catch let e as JSONParseError {
            throw IBTPOError(.badData, "\(path): not valid JSON: \(e)")
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func isFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
}
