import ArgumentParser
import IBTPO

/// `ibtpo score`: log-probabilities of given completions under a checkpoint's policy.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score completions under a checkpoint: log p(completion | prompt), per sequence or per token.",
        discussion: """
            Give one --prompt/--completion pair, or a task (--task/--data) to score the reference solutions \
            of its first --count problems. Completions are scored with the EOS token appended, as the \
            sampler produces them.
            """)
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @Option(help: "Checkpoint to score with (or give --model with a pretrained model).") var checkpoint: String?
    @Option(help: "A prompt (use with --completion; \\n is a newline).") var prompt: String?
    @Option(help: "The completion to score after --prompt.") var completion: String?
    @Option(help: "Problems of the task to score (reference solutions).") var count: Int = 4
    @Option(help: "Split to draw problems from: train or test.") var split: String = "test"
    @Flag(help: "Print every token's log-prob.") var tokens = false

    func run() throws {
        try reportingErrors {
            guard let sp = Split(rawValue: split) else { throw ValidationError("--split must be train or test") }
            guard (prompt == nil) == (completion == nil) else { throw ValidationError("give both --prompt and --completion") }
            guard count >= 1 else { throw ValidationError("--count must be ≥ 1") }
            let model = try opts.checkpointOrPretrainedConfig(checkpoint, context: 512)
            var cfg = APIDefaults.trainer
            cfg.model = model
            cfg.batch = 8; cfg.seq = model.maxSeq; cfg.threads = opts.threads; cfg.rolloutSlots = 0
            let trainer = try opts.makeTrainer(cfg, checkpoint: checkpoint)
            var pairs: [(String, String)] = []
            if let prompt, let completion {
                pairs = [(unescape(prompt), unescape(completion))]
            } else {
                let task = try taskOpts.load(maxTokens: cfg.model.maxSeq)
                pairs = (0..<count).map { let p = task.problem(split: sp, index: $0); return (p.prompt, p.solution) }
            }
            let tok = trainer.tokenizer
            for (i, (p, c)) in pairs.enumerated() {
                let pt = trainer.promptTokens(p), ct = tok.encode(c) + [tok.eos]
                let seq = pt + ct
                guard seq.count <= cfg.model.maxSeq else {
                    throw IBTPOError(.badData, "pair \(i) has \(seq.count) tokens, more than max_seq \(cfg.model.maxSeq)")
                }
                var out = [Float](repeating: 0, count: seq.count)
                try seq.withUnsafeBufferPointer { s in
                    try out.withUnsafeMutableBufferPointer { o in
                        try trainer.score(tokens: s.baseAddress!, lengths: nil, nSeqs: 1, seqLen: seq.count, out: o.baseAddress!)
                    }
                }
                let lps = (0..<ct.count).map { Double(out[pt.count - 1 + $0]) }
                let sum = lps.reduce(0, +)
                print("\(i): log p = \(fmt(sum, 4))  mean \(fmt(sum / Double(lps.count), 4))  tokens \(lps.count)  "
                    + "prompt \(p.debugDescription)")
                if tokens {
                    for (j, lp) in lps.enumerated() {
                        let t = ct[j]
                        let shown = t == tok.eos ? "<eos>" : String(decoding: [UInt8(t)], as: UTF8.self).debugDescription
                        print("    \(shown) \(fmt(lp, 4))")
                    }
                }
            }
        }
    }

    /// "\n" and "\t" escapes in command-line text.
    func unescape(_ s: String) -> String {
        var out = "", esc = false
        for ch in s {
            if esc { out += ch == "n" ? "\n" : ch == "t" ? "\t" : ch == "\\" ? "\\" : "\\" + String(ch); esc = false }
            else if ch == "\\" { esc = true } else { out.append(ch) }
        }
        return esc ? out + "\\" : out
    }
}
