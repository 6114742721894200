import CIBTPO

@c @implementation
public func ibtpo_tokenize(_ text: UnsafePointer<CChar>?, _ len: Int64, _ addBos: Int32, _ out: UnsafeMutablePointer<Int32>?,
                           _ capacity: Int64, _ outLen: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let outLen else { throw invalid("out_len is NULL") }
        guard len >= 0 && len <= 1 << 40 else { throw invalid("len must be in 0...2^40 (got \(len))") }
        guard len == 0 || text != nil else { throw invalid("text is NULL") }
        guard addBos == 0 || addBos == 1 else { throw invalid("add_bos must be 0 or 1 (got \(addBos))") }
        guard capacity >= 0 else { throw invalid("capacity must be >= 0 (got \(capacity))") }
        let need = len + Int64(addBos)
        outLen.pointee = need
        guard need <= capacity else { throw invalid("the text needs \(need) tokens, more than capacity \(capacity)") }
        guard need == 0 || out != nil else { throw invalid("out is NULL") }
        guard let out else { return }
        var o = 0
        if addBos == 1 { out[0] = IBTPO_TOKEN_BOS; o = 1 }
        if let text {
            let bytes = UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self)
            for i in 0..<Int(len) { out[o + i] = Int32(bytes[i]) }
        }
    }
}

@c @implementation
public func ibtpo_detokenize(_ tokens: UnsafePointer<Int32>?, _ n: Int64, _ out: UnsafeMutablePointer<CChar>?,
                             _ capacity: Int64, _ outLen: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let outLen else { throw invalid("out_len is NULL") }
        guard n >= 0 && n <= 1 << 40 else { throw invalid("n must be in 0...2^40 (got \(n))") }
        guard n == 0 || tokens != nil else { throw invalid("tokens is NULL") }
        guard capacity >= 0 else { throw invalid("capacity must be >= 0 (got \(capacity))") }
        var bytes = 0, ended = false
        if let tokens {
            for i in 0..<Int(n) {
                let t = tokens[i]
                guard t >= 0 && t < 259 else { throw invalid("tokens[\(i)] = \(t) is outside 0..<259") }
                if t == IBTPO_TOKEN_EOS { ended = true }
                if t < 256 && !ended { bytes += 1 }
            }
        }
        outLen.pointee = Int64(bytes)
        guard Int64(bytes) + 1 <= capacity else {
            throw invalid("the text needs \(bytes + 1) bytes with its NUL, more than capacity \(capacity)")
        }
        guard let out else { throw invalid("out is NULL") }
        var o = 0
        if let tokens {
            for i in 0..<Int(n) {
                let t = tokens[i]
                if t == IBTPO_TOKEN_EOS { break }
                if t < 256 { out[o] = CChar(bitPattern: UInt8(t)); o += 1 }
            }
        }
        out[o] = 0
    }
}
