import ArgumentParser
import Glibc
import IBTPO

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the tiny model on a built-in synthetic task and evaluate it before and after.")
    @OptionGroup var opts: ModelOptions
    @Option(help: "Training steps.") var steps: Int = 400
    @Option(help: "Sequences per step.") var batch: Int = 32
    @Option(help: "Peak learning rate.") var lr: Float = 3e-3
    @Option(help: "Directory for the checkpoint.") var out: String = "runs/demo"

    func run() throws {
        let task = ReverseTask(minLen: 3, maxLen: 8)
        var cfg = TrainerConfig()
        cfg.model = try opts.modelConfig()
        cfg.batch = batch
        cfg.seq = task.sequenceLength
        cfg.threads = opts.threads
        cfg.seed = opts.seed
        cfg.lr = lr
        cfg.minLR = lr / 10
        cfg.warmup = max(1, steps / 20)
        cfg.totalSteps = steps
        guard steps >= 1 else { throw ValidationError("--steps must be ≥ 1") }
        do {
            let plan = try Trainer.plan(cfg)
            print("libibtpo \(LibraryVersion.string) demo: learn to reverse a word, e.g. 'kqzaf=' -> 'fazqk'")
            print("model \(opts.model): \(ParamLayout(cfg.model).parameterCount) parameters, batch \(cfg.batch) x seq \(cfg.seq), "
                + "\(cfg.threads) threads, BLIS \(BLISInfo.version) (\(BLISInfo.architecture))")
            print("memory plan (one arena, allocated once):")
            print(plan.summary())
            let trainer = try Trainer(cfg)
            let before = trainer.evaluateReverse(task, batches: 4, seed: 999)
            print("before training: exact match \(fmt(before.exact * 100, 1))%, token accuracy \(fmt(before.token * 100, 1))%")
            let start = monotonicSeconds()
            var tokens = 0
            var lastLine = 0.0
            for s in 0..<steps {
                _ = task.fill(tokens: trainer.model.tokens, targets: trainer.model.targets, coef: trainer.model.coef,
                              batch: cfg.batch, seq: cfg.seq, rng: &trainer.rng)
                let st = try trainer.supervisedStep()
                tokens += cfg.batch * cfg.seq
                let now = monotonicSeconds()
                if s == 0 || s + 1 == steps || (s + 1) % max(1, steps / 10) == 0 || now - lastLine > 5 {
                    lastLine = now
                    let el = now - start
                    let tps = Double(tokens) / max(el, 1e-9)
                    let eta = el / Double(s + 1) * Double(steps - s - 1)
                    print("step \(pad(s + 1, steps))/\(steps)  loss \(fmt(Double(st.loss), 4))  lr \(fmtSci(Double(st.lr)))  "
                        + "|g| \(fmt(Double(st.gradNorm), 2))  \(Int(tps)) tok/s  elapsed \(fmtSeconds(el))  ETA \(fmtSeconds(eta))")
                    fflush(stdout)
                }
            }
            let after = trainer.evaluateReverse(task, batches: 4, seed: 999)
            print("after training:  exact match \(fmt(after.exact * 100, 1))%, token accuracy \(fmt(after.token * 100, 1))%")
            try makeDirectories(out)
            let path = out + "/model.ckpt"
            try Checkpoint.save(trainer, path: path)
            print("checkpoint: \(path) (\(trainer.step) steps, total time \(fmtSeconds(monotonicSeconds() - start)))")
        } catch let e as IBTPOError { fail(e) }
    }

    func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n), w = String(width).count
        return String(repeating: " ", count: max(0, w - s.count)) + s
    }
}
