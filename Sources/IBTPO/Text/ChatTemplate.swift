/// A model's chat template, recognised from the Jinja source its tokenizer ships
/// (`tokenizer.chat_template` in GGUF, `chat_template` in tokenizer_config.json) and
/// rendered natively — there is no Jinja engine in the core. Two families are known:
///
/// - **ChatML** (SmolLM2, Qwen2/2.5): `<|im_start|>{role}\n{content}<|im_end|>\n` per
///   message, `<|im_start|>assistant\n` as the generation prompt. A default system message
///   that the template inserts when the conversation has none (SmolLM2's "You are a helpful
///   AI assistant named SmolLM…", Qwen2.5's "You are Qwen…") is found in the source and
///   inserted the same way.
/// - **Llama 3**: `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>`
///   per message after `<|begin_of_text|>`, `<|start_header_id|>assistant<|end_header_id|>\n\n`
///   as the generation prompt. (Llama 3.1+'s templates also write a "Cutting Knowledge Date"
///   system block; that variant is refused as unrecognised rather than approximated.)
///
/// Anything else throws `.notSupported` naming the template's first characters; callers then
/// offer raw prompts (and the Python binding can render any template through jinja2).
public struct ChatTemplate: Equatable, Sendable {
    public enum Family: String, Sendable { case chatml, llama3 }
    public struct Message: Equatable, Sendable {
        public var role: String
        public var content: String
        public init(role: String, content: String) { self.role = role; self.content = content }
    }

    public let family: Family
    /// The system message the template inserts when the conversation starts without one.
    public let defaultSystem: String?
    /// The template's Jinja source.
    public let source: String

    /// Recognises `source`. Throws `.notSupported` for templates of other families.
    public init(source: String) throws {
        self.source = source
        if source.scalarRange(of: "<|im_start|>") != nil && source.scalarRange(of: "<|im_end|>") != nil {
            family = .chatml
            defaultSystem = ChatTemplate.literalDefaultSystem(in: source)
        } else if source.scalarRange(of: "<|start_header_id|>") != nil && source.scalarRange(of: "<|eot_id|>") != nil
                    && source.scalarRange(of: "Cutting Knowledge Date") == nil && source.scalarRange(of: "tools") == nil {
            family = .llama3
            defaultSystem = nil
        } else {
            let head = String(source.prefix(60)).replacingNewlines()
            throw IBTPOError(.notSupported, "chat template not recognised (ChatML and Llama 3 are): \"\(head)…\"; "
                + "use raw prompts instead (e.g. without --chat)")
        }
    }

    /// The text of `messages` in this template; with `addGenerationPrompt`, followed by the
    /// header of an assistant turn. Roles are written as given (system, user, assistant).
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch family {
        case .chatml:
            if let s = defaultSystem, messages.first?.role != "system" {
                out += "<|im_start|>system\n\(s)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            out += "<|begin_of_text|>"
            for m in messages {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content.trimmingWhitespace())<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }

    /// A single-turn prompt: an optional system message, then `user`.
    public func render(user: String, system: String? = nil) -> String {
        var m: [Message] = []
        if let system { m.append(Message(role: "system", content: system)) }
        m.append(Message(role: "user", content: user))
        return render(m)
    }

    /// The token texts that end an assistant turn in this family.
    public var endOfTurn: [String] { family == .chatml ? ["<|im_end|>"] : ["<|eot_id|>"] }

    /// A literal "<|im_start|>system\n…<|im_end|>" in the source whose body has no Jinja
    /// (no quotes, braces or plus signs): the default system message.
    /// (Both a real newline and Jinja's `\n` escape after "system" are recognised.)
    static func literalDefaultSystem(in source: String) -> String? {
        for marker in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            var rest = Substring(source)
            while let r = rest.scalarRange(of: marker) {
                let after = rest[r.upperBound...]
                if let end = after.scalarRange(of: "<|im_end|>") {
                    let body = after[..<end.lowerBound]
                    if !body.isEmpty && !body.contains(where: { "'\"{}+\\".contains($0) }) { return String(body) }
                }
                rest = after
            }
        }
        return nil
    }
}

extension StringProtocol {
    /// The first range of `other` in self, comparing Unicode scalars (the stdlib's
    /// substring search lives in modules the core does not import).
    func scalarRange(of other: String) -> Range<Index>? {
        let needle = Array(other.unicodeScalars)
        let hay = unicodeScalars
        guard !needle.isEmpty else { return startIndex..<startIndex }
        var i = hay.startIndex
        while i != hay.endIndex {
            var j = i, k = 0
            while k < needle.count && j != hay.endIndex && hay[j] == needle[k] { hay.formIndex(after: &j); k += 1 }
            if k == needle.count { return i..<j }
            hay.formIndex(after: &i)
        }
        return nil
    }
}

extension String {
    func replacingNewlines() -> String { String(map { $0 == "\n" ? " " : $0 }) }
    /// Without leading and trailing whitespace (Jinja's `| trim`).
    func trimmingWhitespace() -> String {
        let s = unicodeScalars
        guard let a = s.firstIndex(where: { !$0.properties.isWhitespace }),
              let b = s.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(s[a...b])
    }
}
