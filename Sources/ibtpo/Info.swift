import ArgumentParser
import IBTPO

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version, BLIS build and a config's memory plan.")
    @OptionGroup var opts: ModelOptions
    @Option(help: "Training batch (sequences per step).") var batch: Int = 32
    @Option(help: "Training sequence length.") var seq: Int = 64

    func run() throws {
        var cfg = TrainerConfig()
        cfg.model = try opts.modelConfig()
        cfg.batch = batch; cfg.seq = seq; cfg.threads = opts.threads
        print("libibtpo \(LibraryVersion.string)")
        print("BLIS \(BLISInfo.version), kernels: \(BLISInfo.architecture)")
        print("sgemm kernel: \(MatmulKernel.description) (automatic choice: \(MatmulKernel.automatic.name); "
            + "IBTPO_KERNEL=auto|blis|avx512 overrides)")
        if let w = MatmulKernel.warning { print("warning: \(w)") }
        print("CPU: \(MatmulKernel.cpu), widest FMA: \(FMAPeak.width) bits")
        print("threads: \(opts.threads)")
        do {
            let plan = try Trainer.plan(cfg)
            print("model '\(opts.model)': \(ParamLayout(cfg.model).parameterCount) parameters; batch \(batch) × seq \(seq)")
            print("memory plan (one arena):")
            print(plan.summary())
        } catch let e as IBTPOError { fail(e) }
    }
}
