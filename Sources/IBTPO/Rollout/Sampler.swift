import Glibc

/// Why a sequence stopped.
public enum FinishReason: Int32, Equatable, Sendable {
    /// It produced the EOS token (recorded as its last token).
    case eos = 1
    /// It reached max_new_tokens, or prompt + generated tokens reached max_seq.
    case length = 2
}

/// One sampled response. `tokens`, `logp` and `sampleLogp` have one entry per generated
/// token (prompt tokens excluded); see `SampledToken` for the two log-probabilities.
public struct Rollout: Equatable, Sendable {
    public var prompt: Int
    public var sample: Int
    public var tokens: [Int32]
    public var logp: [Float]
    public var sampleLogp: [Float]
    public var finish: FinishReason
}

/// Samples G responses for each of a batch of prompts, all sequences decoding together
/// through the model's `Decoder` (one matrix–matrix product per weight per step).
///
/// Sequence (p, g) — prompt p, sample g — draws from its own `Rng(seed: seed ⊕ f(p, g))`,
/// so its tokens depend only on the seed, p, g and the parameters: not on the other
/// prompts of the batch, the number of slots, or the thread count. When there are more
/// sequences than slots, a sequence is admitted as soon as a slot frees. A prompt is
/// prefilled once; the other samples of the same prompt copy its cached prefix.
///
/// `generate` = `begin` + `advance` until it returns false + `results`. `advance` (one
/// decode step) allocates nothing.
public final class RolloutSampler {
    public let decoder: Decoder
    public private(set) var params = SamplingParams()
    /// Generated tokens so far in the current batch (prompt tokens not counted).
    public private(set) var generatedTokens = 0

    // Batch state, allocated by `begin` (outside the decode loop).
    var nPrompts = 0, G = 0, nSeq = 0, cap = 0
    var promptTok: UnsafeMutablePointer<Int32>? = nil
    var promptOff: [Int] = [], promptLen: [Int] = []
    var promptSlot: [Int] = []
    var seqTok: UnsafeMutablePointer<Int32>? = nil
    var seqLogp: UnsafeMutablePointer<Float>? = nil, seqSLogp: UnsafeMutablePointer<Float>? = nil
    var seqCount: [Int] = [], seqFinish: [Int32] = []
    var rngs: UnsafeMutablePointer<Rng>? = nil
    var slotSeq: [Int] = [], slotNext: [Int32] = []
    var freeSlots: [Int] = [], freeTop = 0
    var nextSeq = 0, active = 0

    public init(model: Model) throws {
        guard let d = model.decoder else { throw invalid("the model has no decoder (build it with decodeSlots > 0)") }
        decoder = d
    }

    deinit { release() }

    func release() {
        promptTok?.deallocate(); seqTok?.deallocate(); seqLogp?.deallocate(); seqSLogp?.deallocate(); rngs?.deallocate()
        promptTok = nil; seqTok = nil; seqLogp = nil; seqSLogp = nil; rngs = nil
    }

    /// Samples `samplesPerPrompt` responses for every prompt; results are prompt-major
    /// ((p, g) at index p·G + g).
    public func generate(prompts: [[Int32]], samplesPerPrompt: Int, params: SamplingParams, seed: UInt64) throws -> [Rollout] {
        try begin(prompts: prompts, samplesPerPrompt: samplesPerPrompt, params: params, seed: seed)
        while advance() {}
        return results()
    }

    /// Validates the batch and sets up its state. Every prompt needs 1 ≤ length < max_seq
    /// and tokens in 0..<vocab.
    public func begin(prompts: [[Int32]], samplesPerPrompt: Int, params p: SamplingParams, seed: UInt64) throws {
        try p.validate()
        let c = decoder.config
        guard samplesPerPrompt >= 1 && samplesPerPrompt <= 1 << 16 else {
            throw invalid("samples per prompt must be in 1...65536 (got \(samplesPerPrompt))")
        }
        guard !prompts.isEmpty else { throw invalid("no prompts") }
        var total = 0
        for (i, pr) in prompts.enumerated() {
            guard pr.count >= 1 && pr.count < c.maxSeq else {
                throw invalid("prompt \(i) has \(pr.count) tokens; need 1...\(c.maxSeq - 1) (max_seq \(c.maxSeq))")
            }
            for (j, t) in pr.enumerated() where t < 0 || Int(t) >= c.vocab {
                throw IBTPOError(.badData, "prompt \(i) token \(j) = \(t) is outside [0, \(c.vocab))")
            }
            total += pr.count
        }
        let (n, o) = prompts.count.multipliedReportingOverflow(by: samplesPerPrompt)
        guard !o, n <= 1 << 24 else { throw invalid("too many sequences (\(prompts.count) × \(samplesPerPrompt))") }
        release()
        params = p; nPrompts = prompts.count; G = samplesPerPrompt; nSeq = n
        cap = min(p.maxNewTokens, c.maxSeq)
        let pt = UnsafeMutablePointer<Int32>.allocate(capacity: max(total, 1))
        promptOff = []; promptLen = []
        var off = 0
        for pr in prompts {
            promptOff.append(off); promptLen.append(pr.count)
            for t in pr { pt[off] = t; off += 1 }
        }
        promptTok = pt
        promptSlot = Array(repeating: -1, count: nPrompts)
        seqTok = .allocate(capacity: nSeq * cap); seqLogp = .allocate(capacity: nSeq * cap); seqSLogp = .allocate(capacity: nSeq * cap)
        seqCount = Array(repeating: 0, count: nSeq); seqFinish = Array(repeating: 0, count: nSeq)
        let r = UnsafeMutablePointer<Rng>.allocate(capacity: nSeq)
        for s in 0..<nSeq {
            r.advanced(by: s).initialize(to: Rng(seed: RolloutSampler.sequenceSeed(seed, prompt: s / G, sample: s % G)))
        }
        rngs = r
        slotSeq = Array(repeating: -1, count: decoder.slots); slotNext = Array(repeating: 0, count: decoder.slots)
        freeSlots = Array((0..<decoder.slots).reversed()); freeTop = decoder.slots
        nextSeq = 0; active = 0; generatedTokens = 0
    }

    /// The seed of sequence (prompt, sample): SplitMix64-style mixing of the three.
    public static func sequenceSeed(_ seed: UInt64, prompt: Int, sample: Int) -> UInt64 {
        var z = seed ^ (UInt64(truncatingIfNeeded: prompt) &* 0x9E37_79B9_7F4A_7C15)
        z ^= UInt64(truncatingIfNeeded: sample) &* 0xC2B2_AE3D_27D4_EB4F
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Admits waiting sequences into free slots, runs one decode step for every active
    /// sequence and samples its next token. Returns false when the batch is done.
    /// Allocates nothing.
    public func advance() -> Bool {
        guard let pt = promptTok, let st = seqTok, let sl = seqLogp, let ss = seqSLogp, let rg = rngs else { return false }
        let d = decoder
        // Admission: the first sample of a prompt prefills all but its last token; the
        // others copy that prefix (copy-on-branch). The last prompt token is fed by the step.
        while freeTop > 0 && nextSeq < nSeq {
            freeTop -= 1
            let slot = freeSlots[freeTop]
            let seq = nextSeq, p = seq / G
            nextSeq += 1
            let plen = promptLen[p]
            let src = promptSlot[p]
            if src >= 0 && src != slot && d.cache.length(src) >= plen - 1 {
                try? d.cache.copyPrefix(from: src, to: slot, length: plen - 1)
            } else {
                d.cache.lengths[slot] = 0
                d.prefillRows(slot: slot, pt + promptOff[p], plen - 1, logits: false)
            }
            promptSlot[p] = slot
            slotSeq[slot] = seq
            slotNext[slot] = pt[promptOff[p] + plen - 1]
            active += 1
        }
        if active == 0 { return false }
        // One step over the active slots, in slot order.
        var n = 0
        for slot in 0..<d.slots where slotSeq[slot] >= 0 {
            d.rowSlot[n] = Int32(slot); d.rowTok[n] = slotNext[slot]; d.sRowSeq[n] = Int32(slotSeq[slot])
            n += 1
        }
        d.stepAndSample(n, params: params, rngs: rg)
        for r in 0..<n {
            let slot = Int(d.rowSlot[r]), seq = slotSeq[slot]
            let k = seqCount[seq], tok = d.sToken[r]
            st[seq * cap + k] = tok; sl[seq * cap + k] = d.sLogp[r]; ss[seq * cap + k] = d.sSampleLogp[r]
            seqCount[seq] = k + 1
            generatedTokens += 1
            var finish: Int32 = 0
            if let eos = params.eos, tok == eos { finish = FinishReason.eos.rawValue }
            else if k + 1 >= cap || promptLen[seq / G] + k + 1 >= d.config.maxSeq { finish = FinishReason.length.rawValue }
            if finish != 0 {
                seqFinish[seq] = finish
                slotSeq[slot] = -1
                if promptSlot[seq / G] == slot { promptSlot[seq / G] = -1 }
                freeSlots[freeTop] = slot; freeTop += 1
                active -= 1
            } else {
                slotNext[slot] = tok
            }
        }
        return active > 0 || nextSeq < nSeq
    }

    /// The finished sequences of the batch, prompt-major.
    public func results() -> [Rollout] {
        guard let st = seqTok, let sl = seqLogp, let ss = seqSLogp else { return [] }
        var out: [Rollout] = []
        out.reserveCapacity(nSeq)
        for s in 0..<nSeq {
            let k = seqCount[s], base = s * cap
            out.append(Rollout(prompt: s / G, sample: s % G,
                               tokens: Array(UnsafeBufferPointer(start: st + base, count: k)),
                               logp: Array(UnsafeBufferPointer(start: sl + base, count: k)),
                               sampleLogp: Array(UnsafeBufferPointer(start: ss + base, count: k)),
                               finish: FinishReason(rawValue: seqFinish[s]) ?? .length))
        }
        return out
    }
}

/// Rows lo..<hi: draw row r's token with its sequence's own Rng.
extension Decoder {
    /// One decode step over rows 0..<n (rowSlot/rowTok/sRowSeq already written), then one
    /// token per row sampled with the RNG of the row's sequence (`rngs[sRowSeq[r]]`) into
    /// sToken/sLogp/sSampleLogp. Allocates nothing.
    func stepAndSample(_ n: Int, params: SamplingParams, rngs: UnsafeMutablePointer<Rng>) {
        stepRows(n)
        runRows(n, n * config.vocab * 8, SampleJob(logits: logits, vocab: config.vocab, params: params, rngs: rngs,
                                                   rowSeq: sRowSeq, probs: sProbs, order: sOrder, token: sToken,
                                                   logp: sLogp, sampleLogp: sSampleLogp))
    }
}

struct SampleJob: ParallelJob {
    var logits: FPtr, vocab: Int, params: SamplingParams, rngs: UnsafeMutablePointer<Rng>, rowSeq: UnsafeMutablePointer<Int32>
    var probs: FPtr, order: UnsafeMutablePointer<Int32>, token: UnsafeMutablePointer<Int32>, logp: FPtr, sampleLogp: FPtr
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = raw.assumingMemoryBound(to: SampleJob.self)
        let V = j.pointee.vocab
        for r in lo..<hi {
            let rng = j.pointee.rngs + Int(j.pointee.rowSeq[r])
            let t = TokenSampler.sample(j.pointee.logits + r * V, vocab: V, j.pointee.params, rng: &rng.pointee,
                                        probs: j.pointee.probs + r * V, order: j.pointee.order + r * V)
            j.pointee.token[r] = t.token; j.pointee.logp[r] = t.logp; j.pointee.sampleLogp[r] = t.sampleLogp
        }
    }
}
