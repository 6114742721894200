/// The weights of one model in safetensors: a single file, or the shards that a
/// `model.safetensors.index.json` names (`{"weight_map": {tensor name: shard file name}}`),
/// each shard memory-mapped once. Tensor names are unique across the set.
public final class SafeTensorsSet {
    /// The file opened (the .safetensors file or the index), for messages.
    public let source: String
    /// Every file of the set, in name order for an index.
    public let files: [SafeTensorsFile]
    private let index: [String: (file: Int, tensor: SafeTensorsFile.Tensor)]

    /// The largest index file read (a real index is a few hundred kB).
    public static let maxIndexBytes = 64 << 20

    /// One safetensors file holding every tensor.
    public init(file path: String) throws {
        let f = try SafeTensorsFile(path: path)
        source = path
        files = [f]
        var index: [String: (file: Int, tensor: SafeTensorsFile.Tensor)] = [:]
        for t in f.tensors { index[t.name] = (0, t) }
        self.index = index
    }

    /// The shards named by the index at `indexPath`, which must sit in the index's directory
    /// (plain file names: no "/", not "." or ".."). Every tensor of the weight map must be in
    /// the shard it names; tensors of a shard the map does not name are left out, as Hugging
    /// Face's loader leaves them. Throws `.badData` naming the index, the shard or the tensor,
    /// `.io` when a shard cannot be opened.
    public init(index indexPath: String) throws {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badData, "\(indexPath): \(m)") }
        let bytes = try FileIO.read(indexPath, maxBytes: Self.maxIndexBytes)
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch let e as JSONParseError {
            throw bad("not valid JSON: \(e)")
        }
        guard let map = json["weight_map"]?.object else { throw bad("weight_map is missing or not an object") }
        guard map.count > 0 else { throw bad("weight_map is empty") }
        let dir = FileIO.directoryOf(indexPath)
        var shardNames = Set<String>()
        for (name, v) in map {
            guard let s = v.string else { throw bad("weight_map entry '\(name)' is a \(v.typeName), not a file name") }
            guard !s.isEmpty, s != ".", s != "..", !s.contains("/"), !s.unicodeScalars.contains("\0") else {
                throw bad("weight_map entry '\(name)' names '\(s)', which is not a plain file name in the index's directory")
            }
            shardNames.insert(s)
        }
        let names = shardNames.sorted()
        var files: [SafeTensorsFile] = []
        var fileOf: [String: Int] = [:]
        for s in names {
            fileOf[s] = files.count
            files.append(try SafeTensorsFile(path: dir + "/" + s))
        }
        var index: [String: (file: Int, tensor: SafeTensorsFile.Tensor)] = [:]
        for (name, v) in map {
            guard let s = v.string, let fi = fileOf[s] else { continue }
            guard let t = files[fi].tensor(name) else { throw bad("tensor '\(name)' is not in \(s), where weight_map puts it") }
            index[name] = (fi, t)
        }
        source = indexPath
        self.files = files
        self.index = index
    }

    /// Names of every tensor of the set, sorted.
    public var names: [String] { index.keys.sorted() }

    /// The tensor called `name` and the file that holds it, or nil.
    public func tensor(_ name: String) -> (file: SafeTensorsFile, tensor: SafeTensorsFile.Tensor)? {
        index[name].map { (files[$0.file], $0.tensor) }
    }

    /// Converts the tensor `name` to float32 into `out` (see `SafeTensorsFile.read`). Throws
    /// `.badData` when the set has no such tensor.
    public func read(_ name: String, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard let (f, t) = tensor(name) else { throw IBTPOError(.badData, "\(source): no tensor '\(name)'") }
        try f.read(t, into: out)
    }
}
