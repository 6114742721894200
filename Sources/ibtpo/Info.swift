import ArgumentParser
import IBTPO

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version, BLIS build and a config's memory plan.")
    @OptionGroup var configOpts: ConfigOptions
    @OptionGroup var opts: ModelOptions
    @Option(help: "Training batch (sequences per step).") var batch: Int = APIDefaults.trainer.batch
    @Option(help: seqHelp) var seq: Int = APIDefaults.trainer.seq

    func run() throws {
        var cfg = APIDefaults.trainer
        cfg.model = try opts.modelConfig()
        cfg.batch = batch; cfg.seq = seq > 0 ? seq : cfg.model.maxSeq; cfg.threads = opts.threads
        print("libibtpo \(LibraryVersion.string)")
        print("BLIS \(BLISInfo.version), kernels: \(BLISInfo.architecture)")
        print("sgemm kernel: \(MatmulKernel.description) (automatic choice: \(MatmulKernel.automatic.name); "
            + "IBTPO_KERNEL=auto|blis|avx512 overrides)")
        if let w = MatmulKernel.warning { print("warning: \(w)") }
        print("CPU: \(MatmulKernel.cpu), widest FMA: \(FMAPeak.width) bits")
        print("threads: \(opts.threads)")
        do {
            let plan = try Trainer.plan(cfg)
            print("model '\(opts.modelName)': \(ParamLayout(cfg.model).parameterCount) parameters; batch \(batch) × seq \(cfg.seq)")
            print("memory plan (one arena):")
            print(plan.summary())
        } catch let e as IBTPOError { fail(e) }
    }
}
