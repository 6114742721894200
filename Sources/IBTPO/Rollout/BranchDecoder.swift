/// One continuation to sample: trajectory `trajectory` of prompt `prompt` continues from
/// the prompt followed by `prefix` (tokens already generated along a tree path). When
/// `source` ≥ 0, trajectory `source` of the same prompt already holds that prefix in its
/// cache and it is copied (copy-on-branch), never recomputed; `source` = -1 starts from the
/// prompt alone. `parent` is where the tree sampler inserts the result (the decoder
/// ignores it).
public struct BranchRequest: Equatable, Sendable {
    public var prompt: Int
    public var trajectory: Int
    public var source: Int
    public var prefix: [Int32]
    public var parent: Int
    public init(prompt: Int, trajectory: Int, source: Int, prefix: [Int32], parent: Int = 0) {
        self.prompt = prompt; self.trajectory = trajectory; self.source = source; self.prefix = prefix
        self.parent = parent
    }
}

/// What a continuation produced: its new tokens with per-token log-probs (see
/// `SampledToken`), and why it stopped.
public struct BranchResult: Equatable, Sendable {
    public var tokens: [Int32]
    public var logp: [Float]
    public var finish: FinishReason
}

/// Decodes many continuations of many prompts in one batch, with a fixed cache slot per
/// (prompt, trajectory) that keeps its keys and values for the whole tree, so a later branch
/// from any node can copy the node's prefix out of a trajectory that passes through it.
///
/// Slot of (p, j) = p·trajectoriesPerPrompt + j; the decoder needs that many slots. Each
/// trajectory samples with its own RNG seeded from (seed, p, j), so its tokens do not depend
/// on the other sequences of the batch or on the thread count. Only sampled tokens count as
/// generated; the one prompt/prefix token fed to start a continuation is not.
public final class BranchDecoder {
    public let decoder: Decoder
    public let prompts: [[Int32]]
    public let trajectoriesPerPrompt: Int
    public let params: SamplingParams
    public let seed: UInt64
    /// Sampled tokens over all `run` calls.
    public private(set) var generatedTokens = 0
    private var rngs: [Rng]
    private var started: [Bool]

    /// Throws if the decoder has fewer than prompts × trajectories slots or a prompt is empty,
    /// too long or holds an out-of-range token.
    public init(decoder: Decoder, prompts: [[Int32]], trajectoriesPerPrompt G: Int, params: SamplingParams, seed: UInt64) throws {
        try params.validate()
        let c = decoder.config
        guard G >= 1, !prompts.isEmpty else { throw invalid("need at least one prompt and one trajectory") }
        guard prompts.count * G <= decoder.slots else {
            throw invalid("\(prompts.count) prompts × \(G) trajectories need \(prompts.count * G) decode slots; "
                + "the trainer has \(decoder.slots) (raise rollout_slots)")
        }
        for (i, p) in prompts.enumerated() {
            guard p.count >= 1 && p.count < c.maxSeq else {
                throw invalid("prompt \(i) has \(p.count) tokens; need 1...\(c.maxSeq - 1)")
            }
            for t in p where t < 0 || Int(t) >= c.vocab { throw IBTPOError(.badData, "prompt \(i) has token \(t) outside the vocabulary") }
        }
        self.decoder = decoder; self.prompts = prompts; trajectoriesPerPrompt = G; self.params = params; self.seed = seed
        rngs = []
        for p in 0..<prompts.count {
            for j in 0..<G { rngs.append(Rng(seed: RolloutSampler.sequenceSeed(seed, prompt: p, sample: j))) }
        }
        started = Array(repeating: false, count: prompts.count * G)
    }

    /// Samples every request's continuation (all requests decode together, one matrix–matrix
    /// product per weight per step) and returns the results in request order. A trajectory
    /// may be requested once. Its total completion (prefix + new tokens) stops at EOS, at
    /// `params.maxNewTokens`, or when prompt + completion reaches max_seq.
    public func run(_ requests: [BranchRequest]) throws -> [BranchResult] {
        let d = decoder, G = trajectoriesPerPrompt, maxSeq = d.config.maxSeq
        var seen = Set<Int>()
        for r in requests {
            guard r.prompt >= 0 && r.prompt < prompts.count && r.trajectory >= 0 && r.trajectory < G else {
                throw invalid("request for prompt \(r.prompt) trajectory \(r.trajectory) is out of range")
            }
            let slot = r.prompt * G + r.trajectory
            guard !started[slot], seen.insert(slot).inserted else { throw invalid("trajectory \(r.trajectory) of prompt \(r.prompt) was already sampled") }
            guard r.source < G else { throw invalid("source trajectory \(r.source) out of range") }
            if r.source >= 0 {
                let src = r.prompt * G + r.source
                guard started[src] else { throw invalid("source trajectory \(r.source) of prompt \(r.prompt) has not been sampled") }
                guard d.cache.length(src) >= prompts[r.prompt].count + r.prefix.count - 1 else {
                    throw invalid("source trajectory \(r.source) does not hold a prefix of \(r.prefix.count) tokens")
                }
            }
            guard prompts[r.prompt].count + r.prefix.count < maxSeq else { throw invalid("prefix fills the context") }
        }
        // Admission: fill each slot with prompt + prefix minus its last token; the step feeds it.
        var next = [Int32](repeating: 0, count: requests.count)
        for (i, r) in requests.enumerated() {
            let slot = r.prompt * G + r.trajectory
            let prompt = prompts[r.prompt]
            let full = prompt.count + r.prefix.count
            if r.source >= 0 {
                try d.copyPrefix(from: r.prompt * G + r.source, to: slot, length: full - 1)
            } else if let peer = (0..<G).first(where: { started[r.prompt * G + $0] && $0 != r.trajectory }),
                      d.cache.length(r.prompt * G + peer) >= prompt.count - 1, r.prefix.isEmpty {
                try d.copyPrefix(from: r.prompt * G + peer, to: slot, length: prompt.count - 1)
            } else {
                try d.reset(slot: slot)
                let head = Array((prompt + r.prefix).dropLast())
                if !head.isEmpty { try d.prefill(slot: slot, tokens: head, computeLogits: false) }
            }
            next[i] = r.prefix.last ?? prompt[prompt.count - 1]
            started[slot] = true
        }
        // Decode loop: buffers sized up front, so the loop itself allocates nothing.
        let cap = max(1, min(params.maxNewTokens, maxSeq))
        var tokBuf = [Int32](repeating: 0, count: requests.count * cap)
        var lpBuf = [Float](repeating: 0, count: requests.count * cap)
        var count = [Int](repeating: 0, count: requests.count)
        var finish = [FinishReason](repeating: .length, count: requests.count)
        var active = Array(0..<requests.count)
        var nActive = active.count
        try rngs.withUnsafeMutableBufferPointer { rg in
            guard let rgBase = rg.baseAddress else { throw IBTPOError(.internalError, "no RNG state") }
            while nActive > 0 {
                for row in 0..<nActive {
                    let r = requests[active[row]]
                    d.rowSlot[row] = Int32(r.prompt * G + r.trajectory)
                    d.rowTok[row] = next[active[row]]
                    d.sRowSeq[row] = Int32(r.prompt * G + r.trajectory)
                }
                d.stepAndSample(nActive, params: params, rngs: rgBase)
                var kept = 0
                for row in 0..<nActive {
                    let i = active[row], r = requests[i]
                    let tok = d.sToken[row]
                    tokBuf[i * cap + count[i]] = tok
                    lpBuf[i * cap + count[i]] = d.sLogp[row]
                    count[i] += 1
                    generatedTokens += 1
                    let completion = r.prefix.count + count[i]
                    if let eos = params.eos, tok == eos {
                        finish[i] = .eos
                    } else if completion >= params.maxNewTokens || prompts[r.prompt].count + completion >= maxSeq
                                || count[i] >= cap {
                        finish[i] = .length
                    } else {
                        next[i] = tok
                        active[kept] = i
                        kept += 1
                    }
                }
                nActive = kept
            }
        }
        let results = (0..<requests.count).map { i in
            BranchResult(tokens: Array(tokBuf[(i * cap)..<(i * cap + count[i])]),
                         logp: Array(lpBuf[(i * cap)..<(i * cap + count[i])]), finish: finish[i])
        }
        return results
    }
}
