import CIBTPO
import Glibc

// Pretrained models through the C ABI: a trainer from a GGUF file or a checkpoint of a
// pretrained model, and the model's own tokenizer and chat template.

@c @implementation
public func ibtpo_trainer_create_from_model(_ path: UnsafePointer<CChar>?, _ cfg: UnsafePointer<ibtpo_trainer_config>?,
                                            _ chat: Int32, _ system: UnsafePointer<CChar>?,
                                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let out else { throw invalid("out is NULL") }
        out.pointee = nil
        guard let path else { throw invalid("path is NULL") }
        guard let cfg else { throw invalid("cfg is NULL") }
        guard chat == 0 || chat == 1 else { throw invalid("chat must be 0 or 1 (got \(chat))") }
        let sys = try system.map { try utf8String($0, "system") }
        let p0 = try utf8String(path, "path")
        var config = try TrainerConfig(c: cfg.pointee)   // its model only gives max_seq
        let p = try PretrainedModel.open(p0, maxSeq: config.model.maxSeq)
        config.model = p.config
        try config.validate()
        let format = try p.promptFormat(chat: chat == 1, system: sys)
        let handle = TrainerHandle(try Trainer(pretrained: p, config: config, format: format))
        out.pointee = LiveHandles.register(handle, kind: .trainer)
    }
}

@c @implementation
public func ibtpo_trainer_tokenize(_ trainer: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ len: Int64,
                                   _ out: UnsafeMutablePointer<Int32>?, _ capacity: Int64,
                                   _ outLen: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let outLen else { throw invalid("out_len is NULL") }
        guard len >= 0 && len <= 1 << 32 else { throw invalid("len must be in 0...2^32 (got \(len))") }
        guard len == 0 || text != nil else { throw invalid("text is NULL") }
        guard capacity >= 0 else { throw invalid("capacity must be >= 0 (got \(capacity))") }
        let raw = UnsafeRawBufferPointer(start: text, count: Int(len))
        guard let s = String(validating: raw, as: UTF8.self) else { throw IBTPOError(.badData, "text is not valid UTF-8") }
        let ids = h.trainer.tokenizer.encode(s)
        outLen.pointee = Int64(ids.count)
        guard Int64(ids.count) <= capacity else {
            throw invalid("the text needs \(ids.count) tokens, more than capacity \(capacity)")
        }
        guard ids.isEmpty || out != nil else { throw invalid("out is NULL") }
        if let out { for (i, t) in ids.enumerated() { out[i] = t } }
    }
}

@c @implementation
public func ibtpo_trainer_detokenize(_ trainer: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int64,
                                     _ out: UnsafeMutablePointer<CChar>?, _ capacity: Int64,
                                     _ outLen: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let outLen else { throw invalid("out_len is NULL") }
        guard n >= 0 && n <= 1 << 32 else { throw invalid("n must be in 0...2^32 (got \(n))") }
        guard n == 0 || tokens != nil else { throw invalid("tokens is NULL") }
        let tok = h.trainer.tokenizer
        let ids = tokens.map { Array(UnsafeBufferPointer(start: $0, count: Int(n))) } ?? []
        if let i = ids.firstIndex(where: { $0 < 0 || Int($0) >= tok.vocabSize }) {
            throw invalid("tokens[\(i)] = \(ids[i]) is outside 0..<\(tok.vocabSize)")
        }
        try writeCString(tok.bytes(ids), out, capacity, outLen)
    }
}

@c @implementation
public func ibtpo_trainer_apply_chat_template(_ trainer: OpaquePointer?, _ roles: UnsafePointer<UnsafePointer<CChar>?>?,
                                              _ contents: UnsafePointer<UnsafePointer<CChar>?>?, _ n: Int64,
                                              _ addGenerationPrompt: Int32, _ out: UnsafeMutablePointer<CChar>?,
                                              _ capacity: Int64, _ outLen: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let outLen else { throw invalid("out_len is NULL") }
        guard n >= 0 && n <= 1 << 20 else { throw invalid("n must be in 0...2^20 (got \(n))") }
        guard addGenerationPrompt == 0 || addGenerationPrompt == 1 else {
            throw invalid("add_generation_prompt must be 0 or 1 (got \(addGenerationPrompt))")
        }
        guard n == 0 || (roles != nil && contents != nil) else { throw invalid("roles or contents is NULL") }
        var messages: [ChatTemplate.Message] = []
        for i in 0..<Int(n) {
            guard let r = roles?[i], let c = contents?[i] else { throw invalid("roles[\(i)] or contents[\(i)] is NULL") }
            messages.append(ChatTemplate.Message(role: try utf8String(r, "roles[\(i)]"), content: try utf8String(c, "contents[\(i)]")))
        }
        guard let template = try h.trainer.chatTemplate() else {
            throw IBTPOError(.notSupported, "the model has no chat template")
        }
        try writeCString(Array(template.render(messages, addGenerationPrompt: addGenerationPrompt == 1).utf8), out, capacity, outLen)
    }
}

@c @implementation
public func ibtpo_trainer_chat_template(_ trainer: OpaquePointer?, _ out: UnsafeMutablePointer<CChar>?, _ capacity: Int64,
                                        _ outLen: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    onHandle(trainer) { h in
        guard let outLen else { throw invalid("out_len is NULL") }
        try writeCString(Array((h.trainer.chatTemplateSource ?? "").utf8), out, capacity, outLen)
    }
}

@c @implementation
public func ibtpo_trainer_special_tokens(_ trainer: OpaquePointer?, _ vocab: UnsafeMutablePointer<Int64>?,
                                        _ bos: UnsafeMutablePointer<Int32>?, _ eos: UnsafeMutablePointer<Int32>?,
                                        _ pad: UnsafeMutablePointer<Int32>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let t = h.trainer.tokenizer
        vocab?.pointee = Int64(t.vocabSize); bos?.pointee = t.bos; eos?.pointee = t.eos; pad?.pointee = t.pad
    }
}

/// A NUL-terminated C string as Swift, refusing invalid UTF-8 (`.badData`, naming `what`).
func utf8String(_ p: UnsafePointer<CChar>, _ what: String) throws -> String {
    let n = strlen(p)
    guard let s = String(validating: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self) else {
        throw IBTPOError(.badData, "\(what) is not valid UTF-8")
    }
    return s
}

/// `bytes` and a NUL into `out` (capacity bytes, NUL included); *outLen = bytes.count always;
/// `.invalidArgument` and nothing written when it does not fit.
func writeCString(_ bytes: [UInt8], _ out: UnsafeMutablePointer<CChar>?, _ capacity: Int64,
                  _ outLen: UnsafeMutablePointer<Int64>) throws {
    guard capacity >= 0 else { throw invalid("capacity must be >= 0 (got \(capacity))") }
    outLen.pointee = Int64(bytes.count)
    guard Int64(bytes.count) + 1 <= capacity else {
        throw invalid("the text needs \(bytes.count + 1) bytes with its NUL, more than capacity \(capacity)")
    }
    guard let out else { throw invalid("out is NULL") }
    for (i, b) in bytes.enumerated() { out[i] = CChar(bitPattern: b) }
    out[bytes.count] = 0
}
