import ArgumentParser
import Glibc
import IBTPO

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training tokens/s (forward + backward + AdamW) against the CPU's FMA peak and BLIS's sgemm.",
        discussion: """
            Each thread count first measures the fp32 FMA peak (an FMA loop at the widest vector \
            width, kind=fma-peak) and the 1024³ sgemm of BLIS's own kernel (kind=sgemm-peak \
            kernel=blis); every later figure is printed as frac_fma (of the FMA peak) and \
            frac_blis (of BLIS's sgemm). --kernels runs the gemm/train figures once per kernel.
            """)
    @Option(help: "Comma-separated presets to measure.") var models: String = "tiny,small"
    @OptionGroup var configOpts: ConfigOptions
    @Option(name: [.customLong("threads-list"), .customLong("threads")], help: "Comma-separated thread counts, e.g. 1,2.")
    var threadsList: String = "1,2"
    @Option(help: "Timed steps per measurement.") var steps: Int = 10
    @Option(help: "Repeats (median is reported).") var repeats: Int = 3
    @Flag(help: "Also measure the tiny model's individual matmul shapes.") var gemm = false
    @Flag(help: "Measure KV-cached decoding (generated tokens/s) instead of training.") var decode = false
    @Option(help: "Comma-separated concurrent sequence counts for --decode.") var seqs: String = "1,8,64"
    @Option(help: "With --decode: a pretrained model (GGUF file, Hugging Face directory) to decode with instead of the presets; prints its load time, the memory-read bandwidth and the fraction of it one sequence reaches.")
    var model: String?
    @Flag(help: "Measure one full GRPO iteration (8 prompts × 8 completions × 32 tokens, tiny model), as TRL's peer benchmark.")
    var grpo = false
    @Option(help: "Comma-separated sgemm kernels for the gemm/train figures (auto, blis, avx512); default: the one in use.")
    var kernels: String = ""

    func run() throws {
        let presets = models.split(separator: ",").map(String.init)
        let counts = try intList(threadsList, "--threads-list")
        print("libibtpo \(LibraryVersion.string) bench, BLIS \(BLISInfo.version) (\(BLISInfo.architecture)), "
            + "sgemm kernel \(MatmulKernel.description), CPU \(MatmulKernel.cpu)")
        if let w = MatmulKernel.warning { print("warning: \(w)") }
        var kernelList: [MatmulKernel] = []
        for name in kernels.split(separator: ",").map(String.init) {
            guard let k = MatmulKernel(name: name) else { throw ValidationError("unknown kernel \(name) (auto, blis, avx512)") }
            guard k.isSupported else { throw ValidationError("kernel \(name) does not run on this CPU (\(MatmulKernel.cpu))") }
            kernelList.append(k)
        }
        if kernelList.isEmpty { kernelList = [MatmulKernel.current] }
        do {
            if grpo {
                for nt in counts {
                    let r = try RLBench.grpoIteration(threads: nt, iterations: max(3, repeats))
                    print("bench kind=grpo-iteration config=tiny threads=\(nt) prompts=8 completions=8 new_tokens=32 "
                        + "s_per_iter=\(fmt(r.secondsPerIteration, 4)) sampling_s=\(fmt(r.samplingSeconds, 4)) "
                        + "update_s=\(fmt(r.updateSeconds, 4))")
                    fflush(stdout)
                }
                return
            }
            if decode, let model {
                try decodePretrained(model, threads: counts, seqCounts: try intList(seqs, "--seqs"))
                return
            }
            if decode {
                let seqCounts = seqs.split(separator: ",").compactMap { Int($0) }
                for nt in counts {
                    for name in presets {
                        let model: ModelConfig
                        switch name {
                        case "tiny": model = .tiny
                        case "small": model = .small
                        default: throw ValidationError("unknown preset \(name)")
                        }
                        for s in seqCounts {
                            let r = try DecodeBench.run(model: model, threads: nt, seqs: s, repeats: repeats)
                            print("bench kind=decode config=\(name) threads=\(nt) seqs=\(s) "
                                + "tokens_per_s=\(fmt(r.tokensPerSecond, 1)) ms=\(fmt(r.seconds * 1000, 1)) tokens=\(r.tokens)")
                            fflush(stdout)
                        }
                    }
                }
                return
            }
            for nt in counts {
                let fma = FMAPeak.measure(pool: ThreadPool(threads: nt))
                print("bench kind=fma-peak threads=\(nt) width=\(FMAPeak.width) gflops=\(fmt(fma, 1))")
                let inUse = MatmulKernel.current
                MatmulKernel.select(.blis)
                let blis = TrainBench.sgemmPeak(threads: nt)
                MatmulKernel.select(inUse)
                func fracs(_ g: Double) -> String {
                    "frac_fma=\(fma > 0 ? fmt(g / fma, 3) : "nan") frac_blis=\(fmt(g / blis, 3))"
                }
                print("bench kind=sgemm-peak threads=\(nt) kernel=blis(\(BLISInfo.architecture)) gflops=\(fmt(blis, 1)) "
                    + fracs(blis))
                for kernel in kernelList {
                    MatmulKernel.select(kernel)
                    defer { MatmulKernel.select(inUse) }
                    let kname = MatmulKernel.current.name
                    if MatmulKernel.current != .blis {
                        let g = TrainBench.sgemmPeak(threads: nt)
                        print("bench kind=sgemm-peak threads=\(nt) kernel=\(kname) gflops=\(fmt(g, 1)) " + fracs(g))
                    }
                    if gemm {
                        for (T, d, H) in [(64, 32, 4), (128, 32, 8)] {
                            let r = TrainBench.attentionGemms(seq: T, headDim: d, heads: H)
                            print("bench kind=attention-gemm kernel=\(kname) seq=\(T) head_dim=\(d) qk_gflops=\(fmt(r.qk, 1)) "
                                + "pv_gflops=\(fmt(r.pv, 1))")
                        }
                        for (name, m, n, k, tr) in [("x.Wt", 2048, 384, 128, false), ("dy.W", 2048, 128, 384, false),
                                                    ("dyT.x", 384, 128, 2048, true), ("head", 2048, 259, 128, false),
                                                    ("dheadT.x", 259, 128, 2048, true), ("att.qk", 64, 64, 32, false),
                                                    ("decode8", 8, 384, 128, false), ("square1024", 1024, 1024, 1024, false)] {
                            let g = TrainBench.gemm(m: m, n: n, k: k, aTransposed: tr, threads: nt)
                            print("bench kind=gemm kernel=\(kname) shape=\(name) m=\(m) n=\(n) k=\(k) threads=\(nt) "
                                + "gflops=\(fmt(g, 1)) " + fracs(g))
                        }
                    }
                    for name in presets {
                        let (model, shape): (ModelConfig, TrainShape)
                        switch name {
                        case "tiny": (model, shape) = (.tiny, TrainShape(batch: 32, seq: 64))
                        case "small": (model, shape) = (.small, TrainShape(batch: 32, seq: 128))
                        default: throw ValidationError("unknown preset \(name)")
                        }
                        if gemm {
                            let ph = try TrainBench.phases(model: model, shape: shape, threads: nt, steps: steps)
                            print("bench kind=phases kernel=\(kname) config=\(name) threads=\(nt) "
                                + "forward_ms=\(fmt(ph.forward * 1000, 1)) backward_ms=\(fmt(ph.backward * 1000, 1)) "
                                + "optimizer_ms=\(fmt(ph.optimizer * 1000, 1))")
                        }
                        let r = try TrainBench.train(model: model, shape: shape, threads: nt, steps: steps, repeats: repeats)
                        print("bench kind=train kernel=\(kname) config=\(name) threads=\(nt) "
                            + "tokens_per_s=\(fmt(r.tokensPerSecond, 1)) step_ms=\(fmt(r.stepSeconds * 1000, 1)) "
                            + "cpu_step_ms=\(fmt(r.cpuStepSeconds * 1000, 1)) "
                            + "gflops=\(fmt(r.gflops, 1)) " + fracs(r.gflops))
                        fflush(stdout)
                    }
                }
            }
        } catch let e as IBTPOError { fail(e) }
    }

    /// `--decode --model M`: load M once per thread count (timed: open, arena, weights) with
    /// decode slots for the largest sequence count, then decode; one sequence's tokens/s is
    /// also given as read bandwidth (weight bytes per token × tokens/s) against the machine's
    /// measured read bandwidth on the same threads.
    private func decodePretrained(_ path: String, threads: [Int], seqCounts: [Int]) throws {
        let promptLength = 16, newTokens = 64
        guard let most = seqCounts.max(), most >= 1, seqCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--seqs needs counts >= 1")
        }
        for nt in threads {
            let t0 = monotonicSeconds()
            let p = try PretrainedModel.open(path, maxSeq: promptLength + newTokens)
            let m = try Model(config: p.config, shape: TrainShape(batch: 1, seq: 16), threads: nt, seed: 1,
                              decodeSlots: most, initialize: false)
            try p.loadWeights(into: m)
            let load = monotonicSeconds() - t0
            let c = p.config, bytes = DecodeBench.weightBytesPerToken(c)
            print("bench kind=load model=\(path) threads=\(nt) seconds=\(fmt(load, 3)) parameters=\(ParamLayout(c).parameterCount) "
                + "f32_weight_mb=\(fmt(Double(bytes) / 1e6, 1))")
            let bw = ReadBandwidth.measure(pool: ThreadPool(threads: nt))
            print("bench kind=read-bandwidth threads=\(nt) gbps=\(fmt(bw, 2)) limit_tokens_per_s=\(fmt(bw * 1e9 / Double(bytes), 1))")
            fflush(stdout)
            for s in seqCounts {
                let r = try DecodeBench.run(model: m, seqs: s, promptLength: promptLength, newTokens: newTokens, repeats: repeats)
                var line = "bench kind=decode model=\(path) threads=\(nt) seqs=\(s) tokens_per_s=\(fmt(r.tokensPerSecond, 1)) "
                    + "ms=\(fmt(r.seconds * 1000, 1)) tokens=\(r.tokens)"
                if s == 1 {
                    let gbps = r.tokensPerSecond * Double(bytes) / 1e9
                    line += " weight_gbps=\(fmt(gbps, 2)) frac_bandwidth=\(bw > 0 ? fmt(gbps / bw, 3) : "nan")"
                }
                print(line)
                fflush(stdout)
            }
        }
    }
}
