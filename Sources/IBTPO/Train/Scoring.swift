/// Scoring given sequences under the current policy, and the thread count of a trainer.
extension Trainer {
    /// Replaces the worker pool (1...64 threads). Results stay bit-identical.
    public func setThreads(_ threads: Int) throws {
        try model.setThreads(threads)
        config.threads = threads
    }

    /// Per-token log-probs of `nSeqs` rows of `seqLen` tokens (row-major in `tokens`, each in
    /// 0..<vocab; caller-validated count). `lengths` (nil = all `seqLen`) gives each row's
    /// length in 1...seqLen. Writes out[i·seqLen + t] = log p(tokens[i][t+1] | tokens[i][...t])
    /// for t + 1 < length and 0 elsewhere. Rows run in as few passes as the arena allows
    /// (`Model.passCapacity`). Parameters, optimiser state and RNG are unchanged; activations
    /// are scratch. `progress(done, total)` returning false stops with `.aborted` (the rows
    /// already written are then partial).
    public func score(tokens: UnsafePointer<Int32>, lengths: UnsafePointer<Int64>?, nSeqs: Int, seqLen: Int,
                      out: UnsafeMutablePointer<Float>, progress: ((Int, Int) -> Bool)? = nil) throws {
        let V = Int32(config.model.vocab)
        let capacity = model.passCapacity(seq: seqLen)
        guard capacity >= 1 else {
            throw invalid("seq_len \(seqLen) does not fit: it must be ≤ max_seq (\(config.model.maxSeq)) and the "
                + "arena of batch \(config.batch) × seq \(config.seq)")
        }
        for i in 0..<nSeqs {
            let len = lengths.map { Int($0[i]) } ?? seqLen
            guard len >= 1 && len <= seqLen else { throw invalid("lengths[\(i)] = \(len) is outside 1...\(seqLen)") }
            for t in 0..<len where tokens[i * seqLen + t] < 0 || tokens[i * seqLen + t] >= V {
                throw invalid("tokens[\(i)][\(t)] = \(tokens[i * seqLen + t]) is outside 0..<\(V)")
            }
        }
        defer { model.resetPass() }
        var start = 0
        while start < nSeqs {
            let rows = min(capacity, nSeqs - start)
            try model.setPass(batch: rows, seq: seqLen)
            for b in 0..<rows {
                let i = start + b, len = lengths.map { Int($0[i]) } ?? seqLen
                for t in 0..<seqLen {
                    let r = b * seqLen + t
                    model.tokens[r] = t < len ? tokens[i * seqLen + t] : tokenizer.pad
                    model.targets[r] = t + 1 < len ? tokens[i * seqLen + t + 1] : -1
                }
            }
            model.forward()
            for r in 0..<(rows * seqLen) { out[start * seqLen + r] = model.targets[r] < 0 ? 0 : model.logp[r] }
            start += rows
            if let progress, !progress(start, nSeqs) && start < nSeqs {
                throw IBTPOError(.aborted, "scoring stopped by the progress callback after \(start) of \(nSeqs) rows")
            }
        }
    }
}
