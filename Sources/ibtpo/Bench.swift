import ArgumentParser
import Glibc
import IBTPO

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training tokens/s (forward + backward + AdamW) against the BLIS sgemm peak of the same run.")
    @Option(help: "Comma-separated presets to measure.") var models: String = "tiny,small"
    @Option(help: "Comma-separated thread counts.") var threads: String = "1,2"
    @Option(help: "Timed steps per measurement.") var steps: Int = 10
    @Option(help: "Repeats (median is reported).") var repeats: Int = 3
    @Flag(help: "Measure KV-cached decoding (generated tokens/s) instead of training.") var decode = false
    @Option(help: "Comma-separated concurrent sequence counts for --decode.") var seqs: String = "1,8,64"

    func run() throws {
        let presets = models.split(separator: ",").map(String.init)
        let counts = threads.split(separator: ",").compactMap { Int($0) }
        print("libibtpo \(LibraryVersion.string) bench, BLIS \(BLISInfo.version) (\(BLISInfo.architecture))")
        do {
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
                for name in presets {
                    let (model, shape): (ModelConfig, TrainShape)
                    switch name {
                    case "tiny": (model, shape) = (.tiny, TrainShape(batch: 32, seq: 64))
                    case "small": (model, shape) = (.small, TrainShape(batch: 32, seq: 128))
                    default: throw ValidationError("unknown preset \(name)")
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
