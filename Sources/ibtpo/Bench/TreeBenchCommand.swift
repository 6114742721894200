import ArgumentParser
import Glibc
import IBTPO

struct TreeBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tree-bench",
        abstract: "Token efficiency of IBTree and the other branching rules against independent sampling, on a checkpoint.")
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @Option(help: "Checkpoint of the policy (e.g. an SFT'd countdown model).") var checkpoint: String
    @Option(help: "Prompts to sample.") var prompts: Int = 64
    @Option(help: "Tree shape B0,L,K,B.") var tree: String = Train.treeShape(APIDefaults.rl.tree)
    @OptionGroup var samplingOpts: SamplingOptions
    @Option(help: "Whether the root is an expandable node (docs/algorithm.md §4 [choice]): true or false.") var expandRoot: Bool = APIDefaults.rl.tree.expandRoot

    func run() throws {
        try reportingErrors {
            let shape = tree.split(separator: ",").compactMap { Int($0) }
            guard shape.count == 4 else { throw ValidationError("--tree expects B0,L,K,B") }
            let header = try Checkpoint.readHeader(path: checkpoint)
            try opts.check(checkpoint: checkpoint, model: header.config)
            var cfg = APIDefaults.trainer
            cfg.model = header.config
            cfg.batch = 1; cfg.seq = 2; cfg.threads = opts.threads
            cfg.rolloutSlots = 8 * max(12, shape[0] + (shape[1] - 1) * shape[2] * shape[3])
            let trainer = try Trainer(cfg)
            try Checkpoint.load(trainer, path: checkpoint)
            let task = try taskOpts.load(maxTokens: cfg.model.maxSeq)
            let sampling = samplingOpts.params(maxSeq: cfg.model.maxSeq)
            print("tree-bench: \(task.name), \(prompts) prompts, checkpoint \(checkpoint), \(samplingOpts.summary), "
                + "\(opts.threads) threads")
            let rows = try TreeBench.run(trainer: trainer, task: task, prompts: prompts,
                                         tree: (shape[0], shape[1], shape[2], shape[3]), sampling: sampling, seed: opts.seed, expandRoot: expandRoot)
            let base = rows.first?.trajectoriesPerKTokens ?? 1
            print("\(padR("sampler", 34)) \(padL("traj", 5)) \(padL("gen tok", 8)) \(padL("traj/1k", 8)) \(padL("vs G=8", 7)) "
                + "\(padL("Eff-Rate", 9)) \(padL("Avg-Rate", 9)) \(padL("IB", 7)) \(padL("Cov", 7)) \(padL("s", 6))")
            for r in rows {
                print("\(padR(r.name, 34)) \(padL(String(r.trajectories), 5)) \(padL(String(r.generatedTokens), 8)) "
                    + "\(padL(fmt(r.trajectoriesPerKTokens, 2), 8)) \(padL(fmt(r.trajectoriesPerKTokens / base, 2) + "x", 7)) "
                    + "\(padL(fmt(r.effRate * 100, 1) + "%", 9)) \(padL(fmt(r.avgRate * 100, 1) + "%", 9)) "
                    + "\(padL(fmt(r.meanIBScore, 3), 7)) \(padL(fmt(r.meanCov, 3), 7)) \(padL(fmt(r.seconds, 1), 6))")
                fflush(stdout)
            }
        }
    }
}

func padR(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func padL(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
