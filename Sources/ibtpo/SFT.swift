import ArgumentParser
import Glibc
import IBTPO

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised warm-up: cross-entropy on reference completions of a task, then held-out evaluation.",
        discussion: """
        Rows are cut to each batch's longest problem, so --seq only bounds the problem length (and sizes the \
        arena). The learning rate warms up over the first 5% of --steps, then decays by a cosine to lr/10 at \
        --steps. The final evaluation lets completions fill the context (at most --seq − 2 new tokens).
        """)
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @Option(help: "Training steps (the cosine schedule's total_steps).") var steps: Int = APIDefaults.trainer.totalSteps
    @Option(help: "Sequences per step.") var batch: Int = APIDefaults.trainer.batch
    @Option(help: seqHelp) var seq: Int = 0
    @Option(help: "Peak learning rate.") var lr: Float = APIDefaults.trainer.lr
    @Option(help: "Checkpoint to start from (same model config).") var initFrom: String?
    @Option(help: "Where to write the checkpoint.") var out: String = "runs/sft.ckpt"
    @Option(help: "Checkpoint every N steps (0 = only at the end).") var checkpointEvery: Int = 0
    @Option(help: "Continue a run from its checkpoint (same options; bit-identical to an uninterrupted run).")
    var resume: String?
    @Option(help: "Stop after this step as if interrupted (0 = run to --steps); continue with --resume.")
    var stopAfter: Int = 0
    @OptionGroup var evalOpts: EvalOptions
    @OptionGroup var divergence: DivergenceOptions
    @Flag(help: printConfigHelp) var printConfig = false

    /// The trainer's config: the preset (max_seq raised to --seq) and the schedule of --steps.
    func trainerConfig() throws -> TrainerConfig {
        guard steps >= 1 else { throw ValidationError("--steps must be ≥ 1") }
        guard seq >= 0 else { throw ValidationError("--seq must be ≥ 0") }
        var cfg = APIDefaults.trainer
        if opts.pretrainedPath != nil {
            cfg.model = try opts.modelConfig(maxSeq: seq > 0 ? seq : 512)
        } else {
            cfg.model = try opts.modelConfig()
            cfg.model.maxSeq = max(cfg.model.maxSeq, seq)
        }
        cfg.batch = batch; cfg.seq = seq > 0 ? seq : cfg.model.maxSeq; cfg.threads = opts.threads; cfg.seed = opts.seed
        cfg.lr = lr; cfg.minLR = lr / 10; cfg.warmup = max(1, steps / 20); cfg.totalSteps = steps
        return cfg
    }

    func run() throws {
        try reportingErrors {
            let cfg = try trainerConfig()
            let seq = cfg.seq
            if printConfig {
                printFields(ConfigFields.model(cfg.model) + ConfigFields.trainer(cfg) + evalOpts.fields(maxNew: seq - 2))
                return
            }
            let task = try taskOpts.load(maxTokens: seq)
            let plan = try Trainer.plan(cfg)
            print("sft: task \(task.name), model \(opts.modelName) (\(ParamLayout(cfg.model).parameterCount) parameters), "
                + "batch \(batch) x seq \(seq), \(opts.threads) threads, \(steps) steps")
            print("memory plan: \(formatBytes(plan.totalBytes)) in one arena")
            guard checkpointEvery >= 0, stopAfter >= 0 else { throw ValidationError("--checkpoint-every and --stop-after must be ≥ 0") }
            try OutputPaths.prepare([(out, "--out")])
            let trainer = try opts.makeTrainer(cfg, checkpoint: initFrom)
            if let initFrom { print("loaded \(initFrom) (step \(trainer.step))") }
            var batcher = SFTBatcher(task: task, seed: opts.seed, for: trainer)
            var first = 0
            var lossEMA: Double = 0
            if let resume {
                let state = try Checkpoint.load(trainer, path: resume)
                guard let done = state[SFT.completedKey], let draws = state[SFT.drawsKey],
                      done <= UInt64(Int32.max), draws == done * UInt64(batch) else {
                    throw IBTPOError(.badCheckpoint, "\(resume) holds no SFT run state for batch \(batch) "
                        + "(was it written by `ibtpo sft --checkpoint-every` or --stop-after with these options?)")
                }
                guard Int(done) < steps else { throw ValidationError("the run already completed \(done) of --steps \(steps)") }
                first = Int(done)
                batcher.skip(draws: Int(draws))
                lossEMA = Double(bitPattern: state[SFT.lossKey] ?? 0)
                print("resumed \(resume) after SFT step \(first)")
            }
            let progress = Progress(total: steps, label: "sft")
            var guardRun = DivergenceGuard(divergence)
            for s in first..<steps {
                let weighted = try batcher.fill(trainer.model)
                let st = try trainer.supervisedStep()
                try guardRun.record(step: s + 1, skipped: st.skippedSteps > 0, loss: Double(st.loss), out: out)
                if st.skippedSteps > 0 { continue }
                lossEMA = s == 0 ? Double(st.loss) : 0.9 * lossEMA + 0.1 * Double(st.loss)
                progress.update(step: s + 1, tokens: weighted,
                                extra: "loss \(fmt(lossEMA, 4))  lr \(fmtSci(Double(st.lr)))")
                let done = s + 1
                let stopped = stopAfter > 0 && done == stopAfter
                if done < steps && (stopped || (checkpointEvery > 0 && done % checkpointEvery == 0)) {
                    try Checkpoint.save(trainer, path: out, runState: runState(done: done, batcher, lossEMA))
                }
                if stopped && done < steps {
                    progress.finish()
                    print("stopped after SFT step \(done) (--stop-after); continue with --resume \(out)")
                    return
                }
            }
            progress.finish()
            try Checkpoint.save(trainer, path: out, runState: runState(done: steps, batcher, lossEMA))
            print("checkpoint: \(out)")
            if evalOpts.evalCount > 0 { try evalOpts.run(trainer, task: task, maxNew: seq - 2) }
        }
    }

    static let completedKey = "sft.completed_steps", drawsKey = "sft.draws", lossKey = "sft.loss_ema_bits"

    /// What a resumed SFT run needs besides the trainer: the steps done, the batcher's draws
    /// (its data cursor, replayed by `SFTBatcher.skip`) and the displayed loss average.
    func runState(done: Int, _ b: SFTBatcher, _ lossEMA: Double) -> RunState {
        RunState([SFT.completedKey: UInt64(done), SFT.drawsKey: UInt64(b.draws), SFT.lossKey: lossEMA.bitPattern])
    }
}
func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let d = String(path[..<slash])
    return d.isEmpty ? "/" : d
}

func formatBytes(_ b: Int) -> String { "\(fmt(Double(b) / 1_048_576.0, 2)) MiB" }

/// A progress line: redrawn in place on a terminal, one line every few seconds otherwise.
final class Progress {
    let total: Int, label: String, start = monotonicSeconds()
    /// When > 0, progress (and the ETA) is measured in tokens against this budget.
    let tokenBudget: Int
    var tokens = 0, last = 0.0
    init(total: Int, label: String, tokenBudget: Int = 0) { self.total = total; self.label = label; self.tokenBudget = tokenBudget }

    func update(step: Int, tokens t: Int, extra: String) {
        tokens += t
        let now = monotonicSeconds()
        let interval = stdoutIsTTY ? 0.2 : 5.0
        guard step == 1 || step == total || now - last >= interval else { return }
        last = now
        let el = now - start
        var done = Double(step) / Double(max(1, total))
        if tokenBudget > 0 { done = max(done, Double(tokens) / Double(tokenBudget)) }
        let eta = done > 0 ? el / done * (1 - min(1, done)) : 0
        let counter = tokenBudget > 0 ? "\(step) (\(tokens)/\(tokenBudget) tokens)" : "\(step)/\(total)"
        let line = "\(label) step \(counter)  \(extra)  \(Int(Double(tokens) / max(el, 1e-9))) tok/s  "
            + "elapsed \(fmtSeconds(el))  ETA \(fmtSeconds(eta))"
        if stdoutIsTTY { print("\r\u{1B}[2K" + line, terminator: "") } else { print(line) }
        fflush(stdout)
    }

    func finish() { if stdoutIsTTY { print("") } }
}
