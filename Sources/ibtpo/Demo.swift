import ArgumentParser
import Glibc
import IBTPO

/// `ibtpo demo`: the whole pipeline on a built-in task in a few minutes on 2 cores —
/// supervised warm-up, held-out evaluation, IB-TPO, evaluation again — writing the training
/// log, a picture of the curves and the checkpoints. It runs the `sft`, `train` and `plot`
/// subcommands with fixed settings, so every step can be repeated by hand.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SFT then IB-TPO on a built-in task (countdown), with held-out evaluation before and after RL.")
    @OptionGroup var configOpts: ConfigOptions
    @Option(help: "Worker threads.") var threads: Int = APIDefaults.trainer.threads
    @Option(help: "Random seed.") var seed: UInt64 = APIDefaults.trainer.seed
    @Option(help: "Supervised warm-up steps.") var sftSteps: Int = 1500
    @Option(help: "IB-TPO steps.") var rlSteps: Int = 100
    @Option(help: "Held-out problems evaluated before and after RL.") var evalCount: Int = 256
    @Option(help: "Directory for the checkpoints, the log and the picture.") var out: String = "runs/demo"

    /// The demo's recipe: every setting that is not the flags' default is given here, so
    /// that a change of a library default does not change the demo silently.
    /// countdown: reach a target ≤ 99 from 4 numbers ≤ 10 with + − × ÷ (docs/tasks.md).
    static let task = ["--task", "countdown", "--option", "numbers=4", "--option", "max_number=10",
                       "--option", "max_target=99"]

    func run() throws {
        guard sftSteps >= 1 && rlSteps >= 1 && evalCount >= 1 else {
            throw ValidationError("--sft-steps, --rl-steps and --eval-count must be ≥ 1")
        }
        let common = ["--threads", "\(threads)", "--seed", "\(seed)"]
        let sft = out + "/sft.ckpt", rl = out + "/model.ckpt", log = out + "/ibtpo.jsonl", svg = out + "/curves.svg"
        let t0 = monotonicSeconds()
        print("libibtpo \(LibraryVersion.string) demo: countdown (\"make 59 from 5 12 12 13\" -> \"12*5=60 / 60-13=47 / 47+12=59 / answer: 59\"), "
            + "tiny model, \(threads) threads, BLIS \(BLISInfo.version) (\(BLISInfo.architecture))")
        print("\n== 1/3 supervised warm-up on reference solutions (\(sftSteps) steps)")
        try SFT.parse(Demo.task + common + ["--steps", "\(sftSteps)", "--seq", "72", "--out", sft,
                                            "--eval-count", "0"]).run()
        print("\n== 2/3 IB-TPO from the SFT policy (\(rlSteps) steps; held-out eval before and after)")
        try Train.parse(Demo.task + common + [
            "--algo", "ibtpo", "--init-from", sft, "--steps", "\(rlSteps)", "--seq", "96", "--max-new-tokens", "64",
            "--batch", "16", "--minibatches", "4", "--eval-count", "\(evalCount)", "--eval-every", "\(rlSteps)", "--log", log, "--out", rl,
        ]).run()
        print("\n== 3/3 picture")
        try Plot.parse([log, "--out", svg, "--smooth", "5"]).run()
        let evals = try Demo.evalRecords(log)
        guard let before = evals.first, let after = evals.last, evals.count >= 2 else {
            throw ValidationError("the log \(log) has no before/after evaluation records")
        }
        func pct(_ r: [String: Double], _ k: String) -> String { fmt((r[k] ?? .nan) * 100, 1) + "%" }
        print("\nheld-out countdown (\(evalCount) problems)   greedy        avg@8         pass@8")
        print("  after SFT              \(pct(before, "eval_greedy"))         \(pct(before, "eval_avg_at_k"))         \(pct(before, "eval_pass_at_k"))")
        print("  after SFT + IB-TPO     \(pct(after, "eval_greedy"))         \(pct(after, "eval_avg_at_k"))         \(pct(after, "eval_pass_at_k"))")
        print("wrote \(sft), \(rl), \(log), \(svg); total time \(fmtSeconds(monotonicSeconds() - t0))")
    }

    /// The held-out evaluation records of a training log, in order.
    static func evalRecords(_ path: String) throws -> [[String: Double]] {
        try TrainingLog.rows(path).filter { $0["eval_greedy"] != nil }
    }
}
