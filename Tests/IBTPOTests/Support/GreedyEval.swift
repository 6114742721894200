@testable import IBTPO
/// Greedy completion by repeated full forward passes (no KV cache): the reference decoder
/// used to score the synthetic task. O(T) forwards per batch; the KV-cached sampler is the
/// fast path for rollouts.
extension Trainer {
    /// Exact-match accuracy of greedy decoding on `batches` fresh batches of `task`, drawn
    /// from a private RNG seeded with `seed` (the trainer's RNG is not touched), plus the
    /// teacher-forced token accuracy. Overwrites the model's activation buffers.
    public func evaluateReverse(_ task: ReverseTask, batches: Int, seed: UInt64) -> (exact: Double, token: Double) {
        var rng = Rng(seed: seed)
        let B = config.batch, T = config.seq, V = config.model.vocab
        var exact = 0, total = 0, tokOK = 0, tokAll = 0
        for _ in 0..<batches {
            _ = task.fill(tokens: model.tokens, targets: model.targets, coef: model.coef, batch: B, seq: T, rng: &rng,
                          tokenizer: ByteTokenizer())
            // Teacher-forced accuracy.
            model.forward()
            for r in 0..<(B * T) where model.targets[r] >= 0 {
                tokAll += 1
                if argmax(model.logits + r * V, V) == model.targets[r] { tokOK += 1 }
            }
            // Greedy: answer positions are those with a target; decode them left to right.
            var ok = [Bool](repeating: true, count: B)
            for i in 0..<T {
                var any = false
                for b in 0..<B where model.targets[b * T + i] >= 0 { any = true }
                if !any { continue }
                model.forward()
                for b in 0..<B {
                    let r = b * T + i
                    guard model.targets[r] >= 0 else { continue }
                    let pred = argmax(model.logits + r * V, V)
                    if pred != model.targets[r] { ok[b] = false }
                    if i + 1 < T { model.tokens[r + 1] = pred }   // feed the prediction back
                }
            }
            exact += ok.filter { $0 }.count
            total += B
        }
        return (Double(exact) / Double(max(1, total)), Double(tokOK) / Double(max(1, tokAll)))
    }
}

@inline(__always)
func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int32 {
    var best = 0
    for j in 1..<n where p[j] > p[best] { best = j }
    return Int32(best)
}
