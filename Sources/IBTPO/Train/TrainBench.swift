/// Measurement helpers behind `ibtpo bench` (kept in the library so that the C API and
/// the CLI report the same numbers).
public enum TrainBench {
    public struct Result: Sendable {
        public var tokensPerSecond: Double
        public var stepSeconds: Double
        public var gflops: Double
    }

    /// Floating-point operations of one training step (forward + backward), counting the
    /// matmuls (2·m·n·k each, attention as computed: full T×T per head) only.
    public static func trainFlops(_ c: ModelConfig, _ s: TrainShape) -> Double {
        let N = Double(s.tokens), C = Double(c.dModel), F = Double(c.dFF), KV = Double(c.kvDim)
        let perLayer = 2 * N * (C * C * 2 + 2 * C * KV + 3 * C * F)
            + 2 * 2 * Double(s.batch * c.nHeads) * Double(s.seq * s.seq) * Double(c.headDim)
        let forward = Double(c.nLayers) * perLayer + 2 * N * C * Double(c.vocab)
        return 3 * forward
    }

    /// Median over `repeats` of the mean step time over `steps` steps (after 2 warm-up
    /// steps) on random token batches.
    public static func train(model: ModelConfig, shape: TrainShape, threads: Int, steps: Int, repeats: Int) throws -> Result {
        var cfg = TrainerConfig()
        cfg.model = model; cfg.batch = shape.batch; cfg.seq = shape.seq; cfg.threads = threads
        let t = try Trainer(cfg)
        var rng = Rng(seed: 7)
        let N = shape.tokens
        for r in 0..<N {
            t.model.tokens[r] = Int32(rng.nextInt(256))
            t.model.targets[r] = Int32(rng.nextInt(256))
        }
        func fill() { for r in 0..<N { t.model.coef[r] = -1 } }
        for _ in 0..<2 { fill(); _ = try t.supervisedStep() }
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let t0 = monotonicSeconds()
            for _ in 0..<max(1, steps) { fill(); _ = try t.supervisedStep() }
            times.append((monotonicSeconds() - t0) / Double(max(1, steps)))
        }
        times.sort()
        let step = times[times.count / 2]
        return Result(tokensPerSecond: Double(N) / step, stepSeconds: step, gflops: trainFlops(model, shape) / step / 1e9)
    }

    /// GFLOP/s of a 1024³ sgemm through the same pool/BLIS path the model uses (median of 5).
    public static func sgemmPeak(threads: Int) -> Double {
        let n = 1024
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n); defer { a.deallocate() }
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n); defer { b.deallocate() }
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n); defer { c.deallocate() }
        var rng = Rng(seed: 1)
        for i in 0..<(n * n) { a[i] = rng.nextFloat(); b[i] = rng.nextFloat(); c[i] = 0 }
        let pool = ThreadPool(threads: threads)
        pool.sgemm(n, n, n, a, n, 1, b, n, 1, c, n, 1)
        var times: [Double] = []
        for _ in 0..<5 {
            let t0 = monotonicSeconds()
            pool.sgemm(n, n, n, a, n, 1, b, n, 1, c, n, 1)
            times.append(monotonicSeconds() - t0)
        }
        times.sort()
        return 2 * Double(n * n * n) / times[2] / 1e9
    }
}
