/// What a Hugging Face tokenizer_config.json says beyond tokenizer.json: the special tokens
/// by their text, whether BOS/EOS are added, and the chat template. Every field is nil when
/// the file does not set it.
public struct HFTokenizerConfig: Equatable, Sendable {
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    public var unkToken: String?
    public var addBosToken: Bool?
    public var addEosToken: Bool?
    /// The Jinja chat template (the "default" one when the file lists several by name).
    public var chatTemplate: String?

    public init() {}

    /// Reads `json` (tokenizer_config.json's content). A token may be a string, null, or an
    /// AddedToken object ({"content": …}); a chat template a string or a list of
    /// {"name", "template"}. Throws `.badData` naming `source` and the field when a field has
    /// another type.
    public init(json: JSONValue, source: String) throws {
        func bad(_ m: String) -> IBTPOError { IBTPOError(.badData, "\(source): \(m)") }
        guard json.object != nil else { throw bad("the top level is a \(json.typeName), not an object") }
        func token(_ key: String) throws -> String? {
            guard let v = json[key], !v.isNull else { return nil }
            if let s = v.string { return s }
            if let s = v["content"]?.string { return s }
            throw bad("\(key) is a \(v.typeName), not a token")
        }
        func flag(_ key: String) throws -> Bool? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let b = v.bool else { throw bad("\(key) is a \(v.typeName), not true or false") }
            return b
        }
        bosToken = try token("bos_token")
        eosToken = try token("eos_token")
        padToken = try token("pad_token")
        unkToken = try token("unk_token")
        addBosToken = try flag("add_bos_token")
        addEosToken = try flag("add_eos_token")
        if let t = json["chat_template"], !t.isNull {
            if let s = t.string {
                chatTemplate = s
            } else if let list = t.array {
                let named = list.compactMap { e -> (String, String)? in
                    guard let n = e["name"]?.string, let s = e["template"]?.string else { return nil }
                    return (n, s)
                }
                guard named.count == list.count else { throw bad("chat_template is a list, but not of {name, template}") }
                chatTemplate = named.first(where: { $0.0 == "default" })?.1 ?? named.first?.1
            } else {
                throw bad("chat_template is a \(t.typeName), not a string")
            }
        }
    }

    /// The configuration of the tokenizer in the directory `dir`: tokenizer_config.json when
    /// present (none is an empty config), and the chat template from chat_template.jinja
    /// (written by recent transformers) when that file exists, which takes precedence.
    public init(directory dir: String) throws {
        let config = dir + "/tokenizer_config.json", jinja = dir + "/chat_template.jinja"
        if HFDirectory.isFile(config) {
            try self.init(json: HFDirectory.readJSON(config, maxBytes: HFDirectory.maxTokenizerBytes), source: config)
        } else {
            self.init()
        }
        if HFDirectory.isFile(jinja) {
            let bytes = try FileIO.read(jinja, maxBytes: HFDirectory.maxConfigBytes)
            guard UTF8Check.firstInvalidOffset(bytes) == nil else { throw IBTPOError(.badData, "\(jinja): not valid UTF-8") }
            chatTemplate = String(decoding: bytes, as: UTF8.self)
        }
    }
}
