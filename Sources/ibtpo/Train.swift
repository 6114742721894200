import ArgumentParser
import Glibc
import IBTPO

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Online RL from an SFT checkpoint: GRPO (independent samples) or IB-TPO (IBTree + IB advantages).",
        discussion: """
        Defaults are the C API's (ibtpo_rl_config_default; --print-config shows them), chosen for the small CPU \
        models of this project: lr 1e-4 (constant after a 5-step warm-up; the \
        paper's 1e-6 is for 1.7B–8B models, far too small to move a 1–5M-parameter policy in tens of steps), \
        ε = 0.2/0.2, β_KL = 0.001, β = 5, λ = 0.1 and the paper's sampling (T 0.7, top-k 20, top-p 0.95). \
        Baselines: clip-higher = --clip-high 0.28; entropy bonus = --entropy-coef 0.001.
        """)
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @OptionGroup var taskOpts: TaskOptions
    @Option(help: "Algorithm: grpo or ibtpo.") var algo: String = APIDefaults.rl.algo.rawValue
    @Option(help: "SFT checkpoint to start from (required).") var initFrom: String?
    @Option(help: "RL steps.") var steps: Int = 100
    @Option(name: [.customLong("prompts-per-step"), .customLong("prompts")], help: "Train problems per step.")
    var promptsPerStep: Int = APIDefaults.rl.promptsPerStep
    @Option(name: [.customLong("group-size"), .customLong("g")], help: "GRPO group size G (samples per prompt).")
    var groupSize: Int = APIDefaults.rl.groupSize
    @Option(help: "IBTree shape B0,L,K,B (tree_b0, tree_l, tree_k, tree_b).") var tree: String = Train.treeShape(APIDefaults.rl.tree)
    @Option(name: [.customLong("branch-rule"), .customLong("rule")], help: "Branching rule: ib, random, entropy or fixed.")
    var branchRule: String = Train.ruleName(APIDefaults.rl.tree.rule)
    @Option(help: "Depth up to which the fixed rule expands every node.") var fixedMaxDepth: Int = APIDefaults.rl.tree.fixedMaxDepth
    @Option(help: "Whether the root is expandable in rounds 2...L (docs/algorithm.md §4 [choice]): true or false.")
    var expandRoot: Bool = APIDefaults.rl.tree.expandRoot
    @Option(help: "IB trade-off β.") var beta: Double = APIDefaults.rl.rl.beta
    @Option(help: "Weight λ of A_IB.") var lambda: Double = APIDefaults.rl.rl.lambda
    @Option(help: "PPO clip ε_low.") var clipLow: Double = APIDefaults.rl.rl.clipLow
    @Option(help: "PPO clip ε_high (0.28 = clip-higher).") var clipHigh: Double = APIDefaults.rl.rl.clipHigh
    @Option(name: [.customLong("kl-coef"), .customLong("kl")], help: "β_KL to the frozen SFT policy.")
    var klCoef: Double = APIDefaults.rl.rl.klCoef
    @Option(help: "Entropy bonus coefficient.") var entropyCoef: Double = APIDefaults.rl.rl.entropyCoef
    @Option(help: "Loss normaliser: token_mean (DAPO), sequence_mean (GRPO) or constant (Dr. GRPO).")
    var lossAggregation: String = Train.aggregationName(APIDefaults.rl.rl.aggregation)
    @Option(help: "π̄ form: length_normalized (exp of the mean token log-prob) or product.")
    var pibarForm: String = APIDefaults.rl.rl.piBarForm == .product ? "product" : "length_normalized"
    @Option(help: "r(c) when p̂(parent) = 0.") var ratioWhenParentZero: Double = APIDefaults.rl.rl.ratioWhenParentZero
    @Option(help: "Scale A(s) by 1/√n(s): true or false.") var sqrtNWeighting: Bool = APIDefaults.rl.rl.sqrtNWeighting
    @Option(help: "Clear the AdamW moments and the step counter at the start of RL: true or false.")
    var resetOptimizer: Bool = APIDefaults.rl.resetOptimizer
    @Option(help: "Learning rate (constant after a 5-step warm-up).") var lr: Float = APIDefaults.rlLearningRate
    @Option(help: "Optimisation epochs per batch.") var epochs: Int = APIDefaults.rl.rl.epochs
    @Option(help: "Optimiser minibatches per epoch.") var minibatches: Int = APIDefaults.rl.rl.minibatches
    @Option(help: "Rows per forward/backward chunk (gradient accumulation).") var batch: Int = APIDefaults.trainer.batch
    @Option(help: seqHelp) var seq: Int = 0
    @OptionGroup var samplingOpts: SamplingOptions
    @Option(help: "GRPO runs: IB probe tree every N steps (0 = never).") var probeEvery: Int = APIDefaults.rl.probeEvery
    @Option(help: "Stop once this many tokens have been generated (0 = no budget).") var tokenBudget: Int = 0
    @Option(help: "JSON Lines log of per-step metrics.") var log: String?
    @Option(help: "Held-out evaluation every N steps (0 = only at the end; needs --eval-count > 0).") var evalEvery: Int = 0
    @Option(help: "Checkpoint every N steps (0 = only at the end).") var checkpointEvery: Int = 0
    @Option(help: "Where to write checkpoints.") var out: String = "runs/rl.ckpt"
    @Option(help: "Continue a run from its checkpoint (same options and --init-from; the log is cut back to the checkpoint's step, then appended to).")
    var resume: String?
    @Option(help: "Stop after this RL step as if interrupted (0 = run to --steps); continue with --resume.")
    var stopAfter: Int = 0
    @OptionGroup var evalOpts: EvalOptions
    @OptionGroup var divergence: DivergenceOptions
    @Flag(help: printConfigHelp) var printConfig = false

    static let rules: [(name: String, rule: BranchRule)] = [("ib", .ib), ("random", .random), ("entropy", .entropy), ("fixed", .fixed)]
    static func ruleName(_ r: BranchRule) -> String { rules.first { $0.rule == r }?.name ?? "ib" }
    static func aggregationName(_ a: LossAggregation) -> String {
        switch a { case .tokenMean: "token_mean"; case .sequenceMean: "sequence_mean"; case .constant: "constant" }
    }
    static func treeShape(_ t: TreeConfig) -> String { "\(t.initialBranches),\(t.rounds),\(t.topK),\(t.branchWidth)" }

    func parseTree() throws -> TreeConfig {
        let v = tree.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard v.count == 4, v.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("--tree expects B0,L,K,B") }
        var tc = APIDefaults.rl.tree
        (tc.initialBranches, tc.rounds, tc.topK, tc.branchWidth) = (v[0]!, v[1]!, v[2]!, v[3]!)
        guard let r = Train.rules.first(where: { $0.name == branchRule }) else {
            throw ValidationError("--branch-rule must be ib, random, entropy or fixed")
        }
        tc.rule = r.rule
        tc.fixedMaxDepth = fixedMaxDepth
        tc.expandRoot = expandRoot
        return tc
    }

    /// The RL and trainer configs of this run for the checkpoint's `model` (nil: no
    /// checkpoint, for --print-config; --seq then prints as given and nothing is capped).
    func configs(model: ModelConfig?) throws -> (RLTrainerConfig, TrainerConfig) {
        guard let algorithm = RLAlgorithm(rawValue: algo) else { throw ValidationError("--algo must be grpo or ibtpo") }
        guard steps >= 1 else { throw ValidationError("--steps must be ≥ 1") }
        guard seq >= 0 else { throw ValidationError("--seq must be ≥ 0") }
        var rc = APIDefaults.rl
        rc.algo = algorithm; rc.groupSize = groupSize; rc.promptsPerStep = promptsPerStep; rc.tree = try parseTree()
        rc.probeTree.expandRoot = expandRoot
        rc.rl.beta = beta; rc.rl.lambda = lambda; rc.rl.clipLow = clipLow; rc.rl.clipHigh = clipHigh
        rc.rl.klCoef = klCoef; rc.rl.entropyCoef = entropyCoef; rc.rl.epochs = epochs; rc.rl.minibatches = minibatches
        rc.probeEvery = probeEvery; rc.seed = opts.seed
        guard let agg = ["token_mean": LossAggregation.tokenMean, "sequence_mean": .sequenceMean,
                         "constant": .constant(nil)][lossAggregation] else {
            throw ValidationError("--loss-aggregation must be token_mean, sequence_mean or constant")
        }
        guard let form = ["length_normalized": PiBarForm.lengthNormalized, "product": .product][pibarForm] else {
            throw ValidationError("--pibar-form must be length_normalized or product")
        }
        rc.rl.aggregation = agg; rc.rl.piBarForm = form; rc.rl.ratioWhenParentZero = ratioWhenParentZero
        rc.rl.sqrtNWeighting = sqrtNWeighting; rc.resetOptimizer = resetOptimizer
        let maxSeq = model?.maxSeq ?? seq
        let T = seq > 0 ? min(seq, maxSeq) : maxSeq
        rc.sampling = samplingOpts.params(maxSeq: model == nil ? maxNewTokensUncapped : T)
        var cfg = APIDefaults.trainer
        if let model { cfg.model = model }
        cfg.batch = batch; cfg.seq = T; cfg.threads = opts.threads; cfg.seed = opts.seed
        cfg.lr = lr; cfg.minLR = lr; cfg.warmup = min(5, steps); cfg.totalSteps = steps * epochs * minibatches
        cfg.rolloutSlots = max(promptsPerStep * rc.trajectoriesPerPrompt,
                               algorithm == .grpo ? min(rc.probePrompts, promptsPerStep) * rc.probeTree.trajectoriesPerPrompt : 0,
                               min(64, max(1, evalOpts.evalCount)))
        rc.schedule = cfg.schedule   // what nil would mean (the trainer's schedule), stated so the C view shows lr
        return (rc, cfg)
    }

    /// Without a checkpoint the sampling is not capped by a context.
    var maxNewTokensUncapped: Int { samplingOpts.maxNewTokens + 2 }

    func run() throws {
        try reportingErrors {
            let header = try initFrom.map { try Checkpoint.readHeader(path: $0) }
            if let initFrom, let header, opts.pretrainedPath == nil { try opts.check(checkpoint: initFrom, model: header.config) }
            let pretrained = header == nil ? try opts.openPretrained(maxSeq: seq > 0 ? seq : 512) : nil
            let (rc, cfg) = try configs(model: header?.config ?? pretrained?.config)
            if printConfig {
                printFields((header == nil ? [] : ConfigFields.model(cfg.model)) + ConfigFields.trainer(cfg) + ConfigFields.rl(rc)
                    + evalOpts.fields(maxNew: rc.sampling.maxNewTokens))
                return
            }
            guard initFrom != nil || pretrained != nil else {
                throw ValidationError("give the SFT checkpoint to start from (--init-from FILE) or a pretrained --model")
            }
            try OutputPaths.prepare([(out, "--out")] + (log.map { [($0, "--log")] } ?? []))
            let T = cfg.seq, prompts = promptsPerStep
            let task = try taskOpts.load(maxTokens: T)
            let trainer = try opts.makeTrainer(cfg, checkpoint: initFrom)
            let rl = try RLTrainer(trainer: trainer, task: task, config: rc)
            var generated = 0
            if let resume {
                let state = try Checkpoint.load(trainer, path: resume)
                let completed = try completedSteps(state: state, trainer: trainer, path: resume)
                try rl.resume(completedSteps: completed)
                // Records after the checkpoint's step were written by the interrupted run after it
                // saved: they will be written again. An evaluation at that step is kept only if
                // the uninterrupted run makes one there too (not the interrupted run's final one).
                let evalAtK = evalOpts.evalCount > 0 && evalEvery > 0 && completed % evalEvery == 0
                let kept = try log.map { try TrainingLog.rewind($0, toStep: completed) { $0["eval_problems"] == nil || evalAtK } } ?? []
                if let g = state[Train.generatedKey] {
                    generated = Int(g)
                } else {
                    // A format-1 checkpoint (written before the counters were kept in it): the log.
                    generated = Int(kept.compactMap { $0["generated_tokens_total"] }.last ?? 0)
                }
                print("resumed \(resume) after RL step \(rl.completedSteps) (\(generated) generated tokens so far)")
            }
            print("train: \(algo) on \(task.name), \(ParamLayout(cfg.model).parameterCount) parameters from \(initFrom), "
                + "\(prompts) prompts × \(rc.trajectoriesPerPrompt) trajectories per step, rows of \(T) in chunks of \(batch), "
                + "lr \(fmtSci(Double(lr))), \(opts.threads) threads")
            var logFile: UnsafeMutablePointer<FILE>?
            if let log {
                try makeDirectories(parentDirectory(log))
                guard let f = fopen(log, resume == nil ? "w" : "a") else {
                    throw IBTPOError(.io, "cannot open \(log) for writing: \(OutputPaths.reason())")
                }
                logFile = f
            }
            defer { if let logFile { fclose(logFile) } }
            if evalOpts.evalCount > 0 && evalEvery > 0 && resume == nil {
                // Step 0: the start policy, so that held-out curves begin where RL began.
                let r = try evalOpts.run(trainer, task: task, maxNew: rc.sampling.maxNewTokens)
                if let logFile { fputs(EvalOptions.jsonLine(step: 0, generatedTotal: 0, r) + "\n", logFile); fflush(logFile) }
            }
            let first = rl.completedSteps + 1
            guard first <= steps else { throw ValidationError("the run already completed \(first - 1) of --steps \(steps)") }
            let progress = Progress(total: steps, label: "train", tokenBudget: tokenBudget)
            progress.tokens = generated
            var guardRun = DivergenceGuard(divergence)
            var warnedShortfall = false
            for s in first...steps {
                let m = try rl.step()
                generated += m.generatedTokens
                progress.update(step: s, tokens: m.generatedTokens,
                                extra: "reward \(fmt(m.avgRate, 3))  eff \(fmt(m.effRate, 2))  KL \(fmtSci(m.kl))  "
                                    + "IB \(m.ibMeasured ? fmt(m.meanIBScore, 3) : "-")  \(fmt(m.samplingSeconds + m.probeSeconds + m.updateSeconds, 1)) s/step")
                if let logFile {
                    fputs(jsonLine(m, generatedTotal: generated) + "\n", logFile)
                    fflush(logFile)
                }
                if !warnedShortfall, let w = rl.config.shortfallWarning(m) {
                    progress.finish()
                    printErr("warning: \(w); said once per run, the log's trajectories field has every step")
                    warnedShortfall = true
                }
                try guardRun.record(step: s, skipped: m.skippedSteps > 0, loss: m.loss, kl: m.kl, out: out)
                let budgetHit = tokenBudget > 0 && generated >= tokenBudget
                let stopped = stopAfter > 0 && s == stopAfter
                let last = s == steps || budgetHit || stopped
                if checkpointEvery > 0 && s % checkpointEvery == 0 && !last {
                    try Checkpoint.save(trainer, path: out, runState: runState(rl, generated: generated))
                }
                if evalOpts.evalCount > 0 && evalEvery > 0 && s % evalEvery == 0 && !last {
                    progress.finish()
                    let r = try evalOpts.run(trainer, task: task, maxNew: rc.sampling.maxNewTokens)
                    if let logFile { fputs(EvalOptions.jsonLine(step: s, generatedTotal: generated, r) + "\n", logFile); fflush(logFile) }
                }
                if budgetHit { progress.finish(); print("token budget reached: \(generated) generated tokens after \(s) steps"); break }
                if stopped { progress.finish(); print("stopped after RL step \(s) (--stop-after); continue with --resume \(out)"); break }
            }
            progress.finish()
            try Checkpoint.save(trainer, path: out, runState: runState(rl, generated: generated))
            print("checkpoint: \(out)")
            if evalOpts.evalCount > 0 {
                let r = try evalOpts.run(trainer, task: task, maxNew: rc.sampling.maxNewTokens)
                if let logFile { fputs(EvalOptions.jsonLine(step: rl.completedSteps, generatedTotal: generated, r) + "\n", logFile) }
            }
        }
    }

    static let completedKey = "rl.completed_steps", generatedKey = "rl.generated_tokens_total"

    /// What a resumed run needs besides the trainer: the RL steps done and the tokens generated.
    func runState(_ rl: RLTrainer, generated: Int) -> RunState {
        RunState([Train.completedKey: UInt64(rl.completedSteps), Train.generatedKey: UInt64(generated)])
    }

    /// The RL steps a checkpoint being resumed had completed: its run state's counter, or (a
    /// format-1 checkpoint) its optimiser steps / (epochs × minibatches), which must divide.
    func completedSteps(state: RunState, trainer: Trainer, path: String) throws -> Int {
        let perStep = epochs * minibatches
        if let k = state[Train.completedKey] {
            guard k <= UInt64(Int32.max) else { throw IBTPOError(.badCheckpoint, "\(path): \(Train.completedKey) \(k) is out of range") }
            return Int(k)
        }
        guard trainer.step % perStep == 0 else {
            throw IBTPOError(.badCheckpoint, "\(path) has \(trainer.step) optimiser steps, not a multiple of "
                + "epochs × minibatches = \(perStep): was it written by this run's settings?")
        }
        return trainer.step / perStep
    }

    func jsonLine(_ m: RLStepMetrics, generatedTotal: Int) -> String {
        func num(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        var f: [(String, String)] = [
            ("step", "\(m.step)"), ("algo", "\"\(algo)\""), ("optimizer_steps", "\(m.optimizerSteps)"), ("skipped_steps", "\(m.skippedSteps)"),
            ("lr", num(Double(m.lr))), ("avg_rate", num(m.avgRate)), ("eff_rate", num(m.effRate)),
            ("entropy", num(m.entropy)), ("kl", num(m.kl)), ("clip_frac_low", num(m.clipFracLow)),
            ("clip_frac_high", num(m.clipFracHigh)), ("grad_norm", num(Double(m.gradNorm))), ("loss", num(m.loss)),
            ("pg_loss", num(m.pgLoss)), ("max_ratio_dev", num(m.maxRatioDeviation)), ("prompts", "\(m.prompts)"),
            ("trajectories", "\(m.trajectories)"), ("trained_tokens", "\(m.trainedTokens)"),
            ("generated_tokens", "\(m.generatedTokens)"), ("generated_tokens_total", "\(generatedTotal)"),
            ("trajectories_per_1k_tokens", num(m.trajectoriesPerKTokens)), ("nodes", "\(m.shape.nodes)"),
            ("branch_points", "\(m.shape.branchPoints)"), ("mean_branch_depth", num(m.shape.meanBranchDepth)),
            ("sampling_seconds", num(m.samplingSeconds)), ("probe_seconds", num(m.probeSeconds)),
            ("update_seconds", num(m.updateSeconds)),
        ]
        if m.ibMeasured {
            f += [("ib_score", num(m.meanIBScore)), ("ib_cov", num(m.meanCov)), ("ib_nodes", "\(m.ibNodes)")]
        } else {
            f += [("ib_score", "null"), ("ib_cov", "null"), ("ib_nodes", "0")]
        }
        return "{" + f.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}
