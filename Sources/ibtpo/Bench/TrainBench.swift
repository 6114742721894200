import Glibc
import IBTPO

/// Measurement helpers behind `ibtpo bench` (part of the CLI, not of the library).
public enum TrainBench {
    public struct Result: Sendable {
        public var tokensPerSecond: Double
        public var stepSeconds: Double
        public var gflops: Double
        /// Process CPU seconds per step (best repeat): with 1 thread, the step's cost without
        /// the time other processes took from it on a shared machine.
        public var cpuStepSeconds: Double
    }

    /// CPU seconds this process has used (all threads).
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
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
        var cpu = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = monotonicSeconds(), c0 = processCPUSeconds()
            for _ in 0..<max(1, steps) { fill(); _ = try t.supervisedStep() }
            times.append((monotonicSeconds() - t0) / Double(max(1, steps)))
            cpu = min(cpu, (processCPUSeconds() - c0) / Double(max(1, steps)))
        }
        times.sort()
        let step = times[times.count / 2]
        return Result(tokensPerSecond: Double(N) / step, stepSeconds: step, gflops: trainFlops(model, shape) / step / 1e9,
                      cpuStepSeconds: cpu)
    }

    /// The sgemm speed of the kernel in use on `threads` cores: GFLOP/s of a 1024³ product
    /// whose rows are split into one block per thread, each a single BLIS call (median of 5).
    public static func sgemmPeak(threads: Int) -> Double {
        let n = 1024
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n); defer { a.deallocate() }
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n); defer { b.deallocate() }
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n); defer { c.deallocate() }
        var rng = Rng(seed: 1)
        for i in 0..<(n * n) { a[i] = rng.nextFloat(); b[i] = rng.nextFloat(); c[i] = 0 }
        let pool = ThreadPool(threads: threads)
        func once() {
            pool.parallelFor(pool.width) { lo, hi in
                for blk in lo..<hi {
                    let (s, e) = ThreadPool.chunk(n, pool.width, blk)
                    Matmul.sgemm(e - s, n, n, a + s * n, n, 1, b, n, 1, c + s * n, n, 1)
                }
            }
        }
        once()
        var times: [Double] = []
        for _ in 0..<5 {
            let t0 = monotonicSeconds()
            once()
            times.append(monotonicSeconds() - t0)
        }
        times.sort()
        return 2 * Double(n * n * n) / times[2] / 1e9
    }
}

extension TrainBench {
    /// GFLOP/s of `pool.sgemm` for C(m×n) = A(m×k)·B(k×n) with A given transposed when
    /// `aTransposed` (as in a weight gradient dW = dYᵀ·X). Median of `repeats`.
    public static func gemm(m: Int, n: Int, k: Int, aTransposed: Bool, threads: Int, repeats: Int = 7) -> Double {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k); defer { a.deallocate() }
        let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n); defer { b.deallocate() }
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n); defer { c.deallocate() }
        var rng = Rng(seed: 3)
        for i in 0..<(m * k) { a[i] = rng.nextFloat() }
        for i in 0..<(k * n) { b[i] = rng.nextFloat() }
        for i in 0..<(m * n) { c[i] = 0 }
        let pool = ThreadPool(threads: threads)
        let (rsa, csa) = aTransposed ? (1, m) : (k, 1)
        func once() { pool.sgemm(m, n, k, a, rsa, csa, b, n, 1, beta: 1, c, n, 1) }
        once()
        var times: [Double] = []
        for _ in 0..<repeats {
            let t0 = monotonicSeconds()
            for _ in 0..<5 { once() }
            times.append((monotonicSeconds() - t0) / 5)
        }
        times.sort()
        return 2 * Double(m * n * k) / times[times.count / 2] / 1e9
    }
}

extension TrainBench {
    /// GFLOP/s of the attention-shaped products of one (sequence, head) pair, strided as in
    /// the model: S = Q·Kᵀ (T×T×d) and O = P·V (T×d×T), single-threaded.
    public static func attentionGemms(seq T: Int, headDim d: Int, heads H: Int) -> (qk: Double, pv: Double) {
        let C = H * d
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * C); defer { q.deallocate() }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: T * T); defer { p.deallocate() }
        let o = UnsafeMutablePointer<Float>.allocate(capacity: T * C); defer { o.deallocate() }
        for i in 0..<(T * C) { q[i] = 0.01 * Float(i % 7) }
        for i in 0..<(T * T) { p[i] = 0.01 * Float(i % 5) }
        func time(_ body: () -> Void) -> Double {
            body()
            let t0 = monotonicSeconds()
            for _ in 0..<200 { body() }
            return (monotonicSeconds() - t0) / 200
        }
        let tqk = time { Matmul.sgemm(T, T, d, alpha: 0.1, q, C, 1, q, 1, C, p, T, 1) }
        let tpv = time { Matmul.sgemm(T, d, T, p, T, 1, q, C, 1, o, C, 1) }
        let f = 2 * Double(T * T * d)
        return (f / tqk / 1e9, f / tpv / 1e9)
    }
}

extension TrainBench {
    /// Mean seconds of forward, backward and optimiser phases over `steps` steps.
    public static func phases(model: ModelConfig, shape: TrainShape, threads: Int, steps: Int) throws
        -> (forward: Double, backward: Double, optimizer: Double) {
        var cfg = TrainerConfig()
        cfg.model = model; cfg.batch = shape.batch; cfg.seq = shape.seq; cfg.threads = threads
        let t = try Trainer(cfg)
        var rng = Rng(seed: 7)
        for r in 0..<shape.tokens {
            t.model.tokens[r] = Int32(rng.nextInt(256)); t.model.targets[r] = Int32(rng.nextInt(256))
            t.model.coef[r] = -1 / Float(shape.tokens)
        }
        var f = 0.0, b = 0.0, o = 0.0
        for s in 0..<(steps + 1) {
            let t0 = monotonicSeconds()
            t.model.forward()
            let t1 = monotonicSeconds()
            t.model.zeroGrads()
            t.model.backward()
            let t2 = monotonicSeconds()
            t.model.adamwStep(t: s + 1, lr: 1e-4, hyper: cfg.adam, clip: 1)
            let t3 = monotonicSeconds()
            if s > 0 { f += t1 - t0; b += t2 - t1; o += t3 - t2 }
        }
        let n = Double(max(1, steps))
        return (f / n, b / n, o / n)
    }
}
