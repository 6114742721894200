import Glibc
import IBTPO

/// Decode throughput behind `ibtpo bench --decode`.
public enum DecodeBench {
    public struct Result: Sendable {
        public var tokensPerSecond: Double
        public var seconds: Double
        public var tokens: Int
    }

    /// Generated tokens/s of `seqs` concurrent sequences (one sample each of `seqs` random
    /// prompts of `promptLength` tokens, `newTokens` new tokens each, temperature 1, no EOS),
    /// prefill included; median of `repeats` after one warm-up run.
    public static func run(model c: ModelConfig, threads: Int, seqs: Int, promptLength: Int = 16, newTokens: Int = 64,
                           repeats: Int = 3) throws -> Result {
        let m = try Model(config: c, shape: TrainShape(batch: 1, seq: min(c.maxSeq, 16)), threads: threads, seed: 3,
                          decodeSlots: seqs)
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
}
