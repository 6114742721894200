import CIBTPO

extension SamplingParams {
    /// From the C struct (struct_size checked by the caller for embedded copies).
    /// `eos` is the id stop_at_eos stops at (the trainer's tokenizer's EOS).
    init(c s: ibtpo_sampling_config, vocab: Int, name: String = "sampling", eos eosID: Int32 = ByteTokenizer().eos) throws {
        guard s.stop_at_eos == 0 || s.stop_at_eos == 1 else {
            throw invalid("\(name).stop_at_eos must be 0 or 1 (got \(s.stop_at_eos))")
        }
        guard s.top_k >= 0 && Int(s.top_k) <= vocab else {
            throw invalid("\(name).top_k must be in 0...vocab (\(vocab)) (got \(s.top_k))")
        }
        self.init(temperature: s.temperature, topK: Int(s.top_k), topP: s.top_p, maxNewTokens: Int(s.max_new_tokens),
                  eos: s.stop_at_eos == 1 ? eosID : nil)
        do { try validate() } catch let e as IBTPOError { throw invalid("\(name).\(e.message)") }
    }

    var c: ibtpo_sampling_config {
        ibtpo_sampling_config(struct_size: UInt32(MemoryLayout<ibtpo_sampling_config>.size), temperature: temperature,
                              top_k: Int32(topK), top_p: topP, max_new_tokens: Int32(maxNewTokens),
                              stop_at_eos: eos == nil ? 0 : 1)
    }

    /// The paper's sampling (temperature 0.7, top-k 20, top-p 0.95), 64 new tokens, EOS stops.
    static let paper = SamplingParams(temperature: 0.7, topK: 20, topP: 0.95, maxNewTokens: 64)
}

@c @implementation
public func ibtpo_sampling_config_default(_ cfg: UnsafeMutablePointer<ibtpo_sampling_config>?) -> ibtpo_status {
    fillDefault(cfg, SamplingParams.paper.c)
}

@c @implementation
public func ibtpo_trainer_generate(_ trainer: OpaquePointer?, _ prompt: UnsafePointer<Int32>?, _ promptLen: Int64, _ n: Int64,
                                   _ cfg: UnsafePointer<ibtpo_sampling_config>?, _ seed: UInt64,
                                   _ outTokens: UnsafeMutablePointer<Int32>?, _ outLengths: UnsafeMutablePointer<Int64>?,
                                   _ outLogps: UnsafeMutablePointer<Float>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let t = h.trainer
        guard let prompt else { throw invalid("prompt is NULL") }
        guard let cfg else { throw invalid("cfg is NULL") }
        guard let outTokens else { throw invalid("out_tokens is NULL") }
        guard let outLengths else { throw invalid("out_lengths is NULL") }
        try checkStructSize(cfg.pointee.struct_size, MemoryLayout<ibtpo_sampling_config>.size, "ibtpo_sampling_config")
        let maxSeq = t.config.model.maxSeq, V = t.config.model.vocab
        guard promptLen >= 1 && promptLen < Int64(maxSeq) else {
            throw invalid("prompt_len must be in 1...\(maxSeq - 1) (max_seq \(maxSeq)) (got \(promptLen))")
        }
        guard n >= 1 && n <= 1 << 16 else { throw invalid("n must be in 1...65536 (got \(n))") }
        let params = try SamplingParams(c: cfg.pointee, vocab: V, name: "cfg", eos: h.trainer.tokenizer.eos)
        guard Int64(params.maxNewTokens) * n <= 1 << 28 else { throw invalid("n × max_new_tokens is too large") }
        let p = (0..<Int(promptLen)).map { prompt[$0] }
        for (i, tok) in p.enumerated() where tok < 0 || Int(tok) >= V {
            throw invalid("prompt[\(i)] = \(tok) is outside 0..<\(V)")
        }
        guard t.config.rolloutSlots > 0 else { throw invalid("the trainer has no sampler (rollout_slots = 0)") }
        guard n <= Int64(t.config.rolloutSlots) else {
            throw invalid("n = \(n) is more than the trainer's rollout_slots (\(t.config.rolloutSlots))")
        }
        let s = try t.sampler()
        try s.begin(prompts: [p], samplesPerPrompt: Int(n), params: params, seed: seed)
        let progress = h.progressClosure("generate")
        var steps = 0
        while s.advance() {
            steps += 1
            if let progress, steps < params.maxNewTokens, !progress(steps, params.maxNewTokens) {
                throw IBTPOError(.aborted, "generation stopped by the progress callback after \(steps) steps")
            }
        }
        _ = progress?(params.maxNewTokens, params.maxNewTokens)   // done == total once finished
        let M = params.maxNewTokens
        for (i, r) in s.results().enumerated() {
            outLengths[i] = Int64(r.tokens.count)
            for j in 0..<M {
                outTokens[i * M + j] = j < r.tokens.count ? r.tokens[j] : t.tokenizer.pad
                outLogps?[i * M + j] = j < r.tokens.count ? r.logp[j] : 0
            }
        }
    }
}

@c @implementation
public func ibtpo_trainer_score(_ trainer: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ lengths: UnsafePointer<Int64>?,
                                _ nSeqs: Int64, _ seqLen: Int64, _ out: UnsafeMutablePointer<Float>?) -> ibtpo_status {
    onHandle(trainer) { h in
        let t = h.trainer
        guard let tokens else { throw invalid("tokens is NULL") }
        guard let out else { throw invalid("out_logps is NULL") }
        guard seqLen >= 1 && seqLen <= Int64(t.config.model.maxSeq) else {
            throw invalid("seq_len must be in 1...max_seq (\(t.config.model.maxSeq)) (got \(seqLen))")
        }
        guard nSeqs >= 1 && nSeqs <= (1 << 40) / seqLen else { throw invalid("n_seqs must be in 1...2^40/seq_len (got \(nSeqs))") }
        try t.score(tokens: tokens, lengths: lengths, nSeqs: Int(nSeqs), seqLen: Int(seqLen), out: out,
                    progress: h.progressClosure("score"))
    }
}
