import Glibc
import IBTPO

/// One full GRPO iteration on the tiny model, shaped like the TRL peer benchmark
/// (benchmarks/peers/trl_grpo.py): 8 prompts of 16 bytes × 8 completions of exactly 32
/// new tokens at temperature 1 (no EOS stop), a toy reward (fraction of lowercase ASCII
/// letters), group-normalised advantages, and one PPO-clip update with β_KL = 0 (TRL's default).
public enum RLBench {
    public struct Result: Sendable {
        public var secondsPerIteration: Double
        public var samplingSeconds: Double
        public var updateSeconds: Double
    }

    /// Median over `iterations` timed iterations after one warm-up iteration.
    public static func grpoIteration(threads: Int, iterations: Int = 5, seed: UInt64 = 1) throws -> Result {
        var cfg = TrainerConfig()
        cfg.model = .tiny
        cfg.batch = 64; cfg.seq = 49; cfg.threads = threads; cfg.seed = seed; cfg.rolloutSlots = 64
        cfg.lr = 1e-4; cfg.minLR = 1e-4; cfg.warmup = 0
        let trainer = try Trainer(cfg)
        // 16-byte prompts of three short words, as in the TRL script.
        let words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "zeta", "iota"]
        var rng = Rng(seed: seed)
        var lines: [String] = []
        for i in 0..<(8 * (iterations + 2)) {
            var p = (0..<3).map { _ in words[rng.nextInt(words.count)] }.joined(separator: " ")
            p = String(p.prefix(16)); p += String(repeating: " ", count: 16 - p.count)
            lines.append("{\"prompt\": \"\(p)\", \"answer\": \"\(i)\"}")
        }
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let data = try JSONLDataset.parse(bytes: bytes, file: "grpo-bench", maxTokens: 64, tokenCount: { $0.utf8.count },
                                          name: "lowercase")
        var rc = RLTrainerConfig()
        rc.algo = .grpo
        rc.groupSize = 8
        rc.promptsPerStep = 8
        rc.probeEvery = 0
        rc.rl.klCoef = 0          // as TRL's default (beta = 0): no reference-model forward
        rc.alwaysMeasureKL = false
        rc.sampling = SamplingParams(temperature: 1, topK: 0, topP: 1, maxNewTokens: 32, eos: nil)
        rc.seed = seed
        let rl = try RLTrainer(trainer: trainer, task: data, config: rc)
        rl.rewardFunction = { _, bytes in
            let scalars = String(decoding: bytes, as: UTF8.self).unicodeScalars
            let lower = scalars.filter { $0.value >= 97 && $0.value <= 122 }.count
            return Double(lower) / Double(max(1, scalars.count))
        }
        _ = try rl.step()
        var times: [(Double, Double, Double)] = []
        for _ in 0..<max(1, iterations) {
            let t0 = monotonicSeconds()
            let m = try rl.step()
            times.append((monotonicSeconds() - t0, m.samplingSeconds, m.updateSeconds))
        }
        times.sort { $0.0 < $1.0 }
        let mid = times[times.count / 2]
        return Result(secondsPerIteration: mid.0, samplingSeconds: mid.1, updateSeconds: mid.2)
    }
}
