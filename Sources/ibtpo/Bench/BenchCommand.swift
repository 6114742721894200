import ArgumentParser
import Glibc
import IBTPO

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training tokens/s (forward + backward + AdamW) against the BLIS sgemm peak of the same run.")
    @Option(help: "Comma-separated presets to measure.") var models: String = "tiny,small"
    @OptionGroup var configOpts: ConfigOptions
    @Option(name: [.customLong("threads-list"), .customLong("threads")], help: "Comma-separated thread counts, e.g. 1,2.")
    var threadsList: String = "1,2"
    @Option(help: "Timed steps per measurement.") var steps: Int = 10
    @Option(help: "Repeats (median is reported).") var repeats: Int = 3
    @Flag(help: "Also measure the tiny model's individual matmul shapes.") var gemm = false
    @Flag(help: "Measure KV-cached decoding (generated tokens/s) instead of training.") var decode = false
    @Option(help: "Comma-separated concurrent sequence counts for --decode.") var seqs: String = "1,8,64"
    @Flag(help: "Measure one full GRPO iteration (8 prompts × 8 completions × 32 tokens, tiny model), as TRL's peer benchmark.")
    var grpo = false

    func run() throws {
        let presets = models.split(separator: ",").map(String.init)
        let counts = try intList(threadsList, "--threads-list")
        print("libibtpo \(LibraryVersion.string) bench, BLIS \(BLISInfo.version) (\(BLISInfo.architecture))")
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
                let peak = TrainBench.sgemmPeak(threads: nt)
                print("bench kind=sgemm-peak threads=\(nt) gflops=\(fmt(peak, 1))")
                if gemm {
                    for (T, d, H) in [(64, 32, 4), (128, 32, 8)] {
                        let r = TrainBench.attentionGemms(seq: T, headDim: d, heads: H)
                        print("bench kind=attention-gemm seq=\(T) head_dim=\(d) qk_gflops=\(fmt(r.qk, 1)) pv_gflops=\(fmt(r.pv, 1))")
                    }
                    for (name, m, n, k, tr) in [("x.Wt", 2048, 384, 128, false), ("dy.W", 2048, 128, 384, false),
                                                ("dyT.x", 384, 128, 2048, true), ("head", 2048, 259, 128, false),
                                                ("dheadT.x", 259, 128, 2048, true), ("att.qk", 64, 64, 32, false)] {
                        let g = TrainBench.gemm(m: m, n: n, k: k, aTransposed: tr, threads: nt)
                        print("bench kind=gemm shape=\(name) m=\(m) n=\(n) k=\(k) threads=\(nt) gflops=\(fmt(g, 1)) "
                            + "frac_peak=\(fmt(g / peak, 3))")
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
                        print("bench kind=phases config=\(name) threads=\(nt) forward_ms=\(fmt(ph.forward * 1000, 1)) "
                            + "backward_ms=\(fmt(ph.backward * 1000, 1)) optimizer_ms=\(fmt(ph.optimizer * 1000, 1))")
                    }
                    let r = try TrainBench.train(model: model, shape: shape, threads: nt, steps: steps, repeats: repeats)
                    print("bench kind=train config=\(name) threads=\(nt) tokens_per_s=\(fmt(r.tokensPerSecond, 1)) "
                        + "step_ms=\(fmt(r.stepSeconds * 1000, 1)) gflops=\(fmt(r.gflops, 1)) "
                        + "frac_peak=\(fmt(r.gflops / peak, 3))")
                    fflush(stdout)
                }
            }
        } catch let e as IBTPOError { fail(e) }
    }
}
