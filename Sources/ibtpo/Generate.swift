import ArgumentParser
import Glibc
import IBTPO

/// `ibtpo generate --model FILE.gguf --prompt TEXT [--chat]`: greedy or sampled completion
/// from a pretrained llama GGUF model with its own BPE tokenizer (issue 14, first part).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Complete a prompt with a pretrained GGUF model (llama architecture, gpt2-style BPE).")
    @Option(help: "A GGUF model file (llama architecture).") var model: String
    @Option(help: "The prompt text.") var prompt: String
    @Flag(help: "Wrap the prompt in the model's chat template (ChatML or Llama 3: system, user, assistant turns).") var chat = false
    @Option(help: "System prompt for --chat (default: the template's own, if it has one).") var system: String?
    @Option(name: .customLong("max-new"), help: "Most new tokens.") var maxNew: Int = 64
    @Option(help: "Sampling temperature; 0 = greedy.") var temperature: Double = 0
    @Option(help: "Worker threads.") var threads: Int = APIDefaults.trainer.threads
    @Option(help: "Random seed (for temperature > 0).") var seed: UInt64 = 1

    func run() throws {
        guard maxNew >= 1 && maxNew <= 1 << 16 else { throw ValidationError("--max-new must be in 1...65536") }
        guard temperature >= 0 && temperature.isFinite else { throw ValidationError("--temperature must be >= 0") }
        guard threads >= 1 && threads <= 64 else { throw ValidationError("--threads must be in 1...64") }
        do {
            let t0 = monotonicSeconds()
            let g = try GGUFFile(path: model)
            let tok = try BPETokenizer(gguf: g)
            var text = prompt
            if chat {
                guard let src = g.metadata["tokenizer.chat_template"]?.string else {
                    throw IBTPOError(.badData, "\(model): the model has no chat template; run without --chat for a raw prompt")
                }
                do { text = try ChatTemplate(source: src).render(user: prompt, system: system) }
                catch let e as IBTPOError { throw IBTPOError(e.status, "\(model): \(e.message)") }
            }
            let ids = tok.encode(text)
            guard !ids.isEmpty else { throw IBTPOError(.invalidArgument, "the prompt is empty") }
            let ctx = ids.count + maxNew
            let cfg = try ModelConfig(gguf: g, maxSeq: ctx)
            guard ctx <= cfg.maxSeq else {
                throw IBTPOError(.invalidArgument, "prompt (\(ids.count) tokens) + --max-new \(maxNew) exceed the "
                    + "model's context of \(cfg.maxSeq)")
            }
            let m = try Model(config: cfg, shape: TrainShape(batch: 1, seq: 1), threads: threads, seed: 1, decodeSlots: 1,
                              initialize: false)
            try m.loadWeights(from: g)
            guard let dec = m.decoder else { throw IBTPOError(.internalError, "no decoder") }
            let loaded = monotonicSeconds() - t0
            var rng = Rng(seed: seed)
            let sampling = SamplingParams(temperature: Float(temperature))
            let probs = UnsafeMutablePointer<Float>.allocate(capacity: cfg.vocab); defer { probs.deallocate() }
            let order = UnsafeMutablePointer<Int32>.allocate(capacity: cfg.vocab); defer { order.deallocate() }
            var stops: Set<Int32> = [tok.eos]
            for s in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"] {
                let e = tok.encode(s)
                if e.count == 1 { stops.insert(e[0]) }
            }
            let t1 = monotonicSeconds()
            try dec.prefill(slot: 0, tokens: ids)
            var row = (ids.count - 1) % dec.rowCapacity   // the last prompt token's row of the last chunk
            var out: [Int32] = []
            var printed = 0
            for _ in 0..<maxNew {
                let next = TokenSampler.sample(dec.logits + row * cfg.vocab, vocab: cfg.vocab, sampling, rng: &rng,
                                               probs: probs, order: order).token
                if stops.contains(next) { break }
                out.append(next)
                let s = tok.decode(out)
                if s.count > printed, !s.hasSuffix("\u{FFFD}") {
                    print(String(s.dropFirst(printed)), terminator: ""); fflush(stdout); printed = s.count
                }
                try dec.step(slots: [0], tokens: [next])
                row = 0
            }
            let dt = monotonicSeconds() - t1
            print("")
            fputs("[\(ids.count) prompt + \(out.count) new tokens in \(fmt(dt, 2)) s, "
                + "\(fmt(Double(out.count) / max(dt, 1e-9), 2)) tok/s; model loaded in \(fmt(loaded, 2)) s]\n", stderr)
        } catch let e as IBTPOError { fail(e) }
    }
}
