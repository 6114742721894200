/// How a task's prompt text becomes the tokens a policy is conditioned on: optionally
/// through the model's chat template (with a system message), then encoded, with BOS in
/// front when the model's tokenizer adds one. The default (no template, BOS) is what the
/// byte-level models libibtpo initialises have always used: `[bos] + encode(prompt)`.
public struct PromptFormat: Equatable, Sendable {
    /// Put the tokenizer's BOS first (SmolLM2 and Qwen2 do not; Llama 3's template writes
    /// `<|begin_of_text|>` itself).
    public var addBOS: Bool
    /// Render prompts as a user turn of this template; nil = raw prompt text.
    public var chat: ChatTemplate?
    /// The system message of rendered prompts (nil: the template's default, if any).
    public var system: String?

    public init(addBOS: Bool = true, chat: ChatTemplate? = nil, system: String? = nil) {
        self.addBOS = addBOS; self.chat = chat; self.system = system
    }

    /// The text the tokenizer sees for `prompt`.
    public func text(for prompt: String) -> String {
        guard let chat else { return prompt }
        return chat.render(user: prompt, system: system)
    }

    /// The prompt's tokens.
    public func tokens(for prompt: String, tokenizer: any Tokenizer) -> [Int32] {
        let body = tokenizer.encode(text(for: prompt))
        // A template that writes BOS itself (Llama 3's <|begin_of_text|>) gets no second one.
        return addBOS && body.first != tokenizer.bos ? [tokenizer.bos] + body : body
    }
}
