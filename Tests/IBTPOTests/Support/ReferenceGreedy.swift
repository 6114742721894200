@testable import IBTPO
/// Greedy completion by repeated full forward passes (no KV cache). Slow — O(length)
/// forwards of the whole batch — but it shares no code with the incremental decoder, so it
/// serves as the oracle for it, and as a fallback evaluator.
extension Trainer {
    /// Greedy completions of `prompts` (each encoded as [BOS] prompt), at most `maxNew`
    /// tokens each, stopping at EOS. Rows are processed `config.batch` at a time; a prompt
    /// longer than `config.seq − 1` tokens throws `.badData`. Returns each completion's
    /// tokens (without EOS) and whether it was cut by the length cap. Overwrites the model's
    /// activation and input buffers; parameters and optimiser state are untouched.
    public func referenceGreedy(prompts: [[Int32]], maxNew: Int) throws -> [(tokens: [Int32], truncated: Bool)] {
        let B = config.batch, T = config.seq, V = config.model.vocab
        var out: [(tokens: [Int32], truncated: Bool)] = []
        var start = 0
        while start < prompts.count {
            let rows = min(B, prompts.count - start)
            var len = [Int](repeating: 0, count: B)
            var done = [Bool](repeating: true, count: B)
            var gen = [[Int32]](repeating: [], count: B)
            var sawEOS = [Bool](repeating: false, count: B)
            for r in 0..<B {
                let base = r * T
                for i in 0..<T { model.tokens[base + i] = tokenizer.pad; model.targets[base + i] = -1 }
                guard r < rows else { continue }
                let p = prompts[start + r]
                guard p.count + 1 < T else {
                    throw IBTPOError(.badData, "prompt \(start + r) has \(p.count) tokens; at most \(T - 2) fit in seq \(T)")
                }
                model.tokens[base] = tokenizer.bos
                for (i, t) in p.enumerated() { model.tokens[base + 1 + i] = t }
                len[r] = p.count + 1
                done[r] = false
            }
            var steps = 0
            while done.contains(false) && steps < maxNew {
                model.forward()
                for r in 0..<rows where !done[r] {
                    let next = argmax(model.logits + (r * T + len[r] - 1) * V, V)
                    if next == tokenizer.eos { done[r] = true; sawEOS[r] = true; continue }
                    gen[r].append(next)
                    if len[r] < T { model.tokens[r * T + len[r]] = next; len[r] += 1 }
                    if len[r] >= T { done[r] = true }
                }
                steps += 1
            }
            // Truncated = stopped by the length cap (maxNew or seq) rather than by EOS.
            for r in 0..<rows { out.append((gen[r], !sawEOS[r])) }
            start += rows
        }
        return out
    }
}
