/// Supervised warm-up data: turns a task's problems into training rows
///
///     [BOS] prompt solution [EOS] [PAD]...
///
/// with loss only on the completion (solution and EOS): the target of position i is token
/// i+1 when that token belongs to the completion, -1 otherwise. Rows of different lengths
/// share a batch, right-padded. Problems come from the task's train split: in index order
/// for an unbounded generator, or in a fresh seeded permutation per epoch for a finite one.
public struct SFTBatcher {
    public let task: any TrainingTask
    public let tokenizer: any Tokenizer
    /// How prompts are rendered (chat template, BOS). With the byte tokenizer and the default
    /// format, rows are built byte by byte without allocating; otherwise each row's prompt is
    /// `format.tokens(for:)` and its completion `encode(solution) + [EOS]`, which allocates.
    public let format: PromptFormat
    private let bytePath: Bool
    public private(set) var cursor = 0
    /// How many problem indices have been drawn since `init` (batch size × steps filled).
    public private(set) var draws = 0
    private var order: [Int] = []
    private var epoch = 0
    private var rng: Rng

    public init(task: any TrainingTask, seed: UInt64, tokenizer: (any Tokenizer)? = nil, format: PromptFormat = PromptFormat()) {
        self.task = task
        self.tokenizer = tokenizer ?? ByteTokenizer()
        self.format = format
        bytePath = self.tokenizer is ByteTokenizer && format == PromptFormat()
        rng = Rng(seed: seed ^ 0x5F7_BA7C)
    }

    /// A batcher with `trainer`'s tokenizer and prompt format.
    public init(task: any TrainingTask, seed: UInt64, for trainer: Trainer) {
        self.init(task: task, seed: seed, tokenizer: trainer.tokenizer, format: trainer.promptFormat)
    }

    /// The prompt and completion tokens of `p` on the general (non-byte) path.
    func rowTokens(_ p: Problem) -> (prompt: [Int32], completion: [Int32]) {
        (format.tokens(for: p.prompt, tokenizer: tokenizer), tokenizer.encode(p.solution) + [tokenizer.eos])
    }

    /// Advances the batcher as if `n` more indices had been drawn (`n` ≥ 0; a negative `n`
    /// does nothing): a fresh batcher skipped by a checkpoint's `draws` continues exactly
    /// where the checkpointed run's batcher was (same order, cursor and epoch RNG).
    public mutating func skip(draws n: Int) {
        for _ in 0..<max(0, n) { _ = nextIndex() }
    }

    /// The next problem index of the train split.
    mutating func nextIndex() -> Int {
        draws += 1
        guard let count = task.problemCount(split: .train), count > 0 else {
            defer { cursor += 1 }
            return cursor
        }
        if order.count != count || cursor >= count {
            order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(i + 1)) }
            cursor = 0
            epoch += 1
        }
        defer { cursor += 1 }
        return order[cursor]
    }

    /// Writes `model.shape.batch` rows into the model's inputs (coef = −1 on completion
    /// tokens) and returns the number of completion tokens. The model's pass shape is set to
    /// the batch's longest row (`Model.setPass`; `Trainer.supervisedStep` restores it), so short
    /// problems cost less than `seq`. Throws `.badData` naming the problem if one does not fit
    /// in `seq` tokens; the rows written so far are then garbage but the trainer's state is
    /// untouched (nothing has been trained on them).
    public mutating func fill(_ model: Model) throws -> Int {
        let B = model.shape.batch, full = model.shape.seq
        var weighted = 0
        // Two passes over the same B problems, so that no per-step list is built (a step
        // allocates nothing beyond what `task.problem` does): the first finds the longest
        // row, the second, from the same order state, writes the rows. The order state is
        // copied, not rebuilt, so only an epoch change (a new permutation) allocates.
        let start = (cursor, order, epoch, rng, draws)
        var T = 1
        for _ in 0..<B {
            let index = nextIndex()
            let p = task.problem(split: .train, index: index)
            let total: Int
            if bytePath {
                total = 1 + p.prompt.utf8.count + p.solution.utf8.count + 1
            } else {
                let (a, b) = rowTokens(p)
                total = a.count + b.count
            }
            guard total <= full + 1 else {
                throw IBTPOError(.badData, "\(task.name) train problem \(index) needs \(total - 1) tokens, more than seq = \(full)")
            }
            T = max(T, total - 1)
        }
        (cursor, order, epoch, rng, draws) = start
        try model.setPass(batch: B, seq: T)
        for b in 0..<B {
            let p = task.problem(split: .train, index: nextIndex())
            let row = b * T
            if !bytePath {
                weighted += writeRow(rowTokens(p), model, row: row, T: T)
                continue
            }
            let prompt = p.prompt.utf8, completion = p.solution.utf8
            var i = 0
            // Sequence s: BOS, prompt, completion, EOS. tokens[i] = s[i], targets[i] = s[i+1].
            func put(_ tok: Int32) {
                if i < T { model.tokens[row + i] = tok }
                if i >= 1 {
                    let inCompletion = i > prompt.count   // s[i] is completion or EOS
                    model.targets[row + i - 1] = inCompletion ? tok : -1
                    model.coef[row + i - 1] = inCompletion ? -1 : 0
                    if inCompletion { weighted += 1 }
                }
                i += 1
            }
            put(tokenizer.bos)
            for c in prompt { put(Int32(c)) }
            for c in completion { put(Int32(c)) }
            put(tokenizer.eos)
            // Padding: positions i-1 ..< T have no target.
            while i <= T {
                if i < T { model.tokens[row + i] = tokenizer.pad }
                model.targets[row + i - 1] = -1
                model.coef[row + i - 1] = 0
                i += 1
            }
        }
        return weighted
    }

    /// Writes one row (prompt tokens, then completion tokens whose last is EOS) at `row` with
    /// pass length `T`; returns the completion-token count (the rows' targets).
    private func writeRow(_ r: (prompt: [Int32], completion: [Int32]), _ model: Model, row: Int, T: Int) -> Int {
        let s = r.prompt + r.completion
        for i in 0..<T {
            model.tokens[row + i] = i < s.count ? s[i] : tokenizer.pad
            let inCompletion = i + 1 < s.count && i + 1 >= r.prompt.count
            model.targets[row + i] = inCompletion ? s[i + 1] : -1
            model.coef[row + i] = inCompletion ? -1 : 0
        }
        return r.completion.count
    }
}
