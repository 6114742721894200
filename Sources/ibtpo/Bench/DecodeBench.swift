import Glibc
import IBTPO

/// Decode throughput behind `ibtpo bench --decode`.
public enum DecodeBench {
    public struct Result: Sendable {
        public var tokensPerSecond: Double
        public var seconds: Double
        public var tokens: Int
    }

    /// `run(model:seqs:...)` on a fresh randomly initialised model of config `c` with
    /// `seqs` decode slots.
    public static func run(model c: ModelConfig, threads: Int, seqs: Int, promptLength: Int = 16, newTokens: Int = 64,
                           repeats: Int = 3) throws -> Result {
        let m = try Model(config: c, shape: TrainShape(batch: 1, seq: min(c.maxSeq, 16)), threads: threads, seed: 3,
                          decodeSlots: seqs)
        return try run(model: m, seqs: seqs, promptLength: promptLength, newTokens: newTokens, repeats: repeats)
    }

    /// Generated tokens/s of `seqs` concurrent sequences on `m` (which needs at least `seqs`
    /// decode slots and a context of promptLength + newTokens): one sample each of `seqs`
    /// random prompts of `promptLength` tokens (ids below 256), `newTokens` new tokens each,
    /// temperature 1, no EOS, prefill included; median of `repeats` after one warm-up run.
    public static func run(model m: Model, seqs: Int, promptLength: Int = 16, newTokens: Int = 64,
                           repeats: Int = 3) throws -> Result {
        let c = m.config
        let sampler = try RolloutSampler(model: m)
        var rng = Rng(seed: 11)
        let prompts = (0..<seqs).map { _ in (0..<promptLength).map { _ in Int32(rng.nextInt(min(256, c.vocab))) } }
        let p = SamplingParams(temperature: 1, maxNewTokens: newTokens, eos: nil)
        var runs: [(Double, Int)] = []
        for i in 0...max(1, repeats) {
            let t0 = monotonicSeconds()
            try sampler.begin(prompts: prompts, samplesPerPrompt: 1, params: p, seed: UInt64(i))
            while sampler.advance() {}
            let dt = monotonicSeconds() - t0
            if i > 0 { runs.append((dt, sampler.generatedTokens)) }
        }
        runs.sort { $0.0 < $1.0 }
        let (t, n) = runs[runs.count / 2]
        return Result(tokensPerSecond: Double(n) / t, seconds: t, tokens: n)
    }

    /// Bytes of weights one decode step of one sequence reads: every parameter once (the
    /// tied embedding table as the LM head), less an untied embedding table (one row of it).
    public static func weightBytesPerToken(_ c: ModelConfig) -> Int {
        let n = ParamLayout(c).parameterCount
        return 4 * (c.tieEmbeddings ? n : n - c.vocab * c.dModel)
    }
}
