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
        var source: String? = nil
        if let m = opts.model, m.hasSuffix(".gguf") {
            // A GGUF file: its architecture and memory plan (training from it is issue 14's next step).
            do {
                let g = try GGUFFile(path: m)
                cfg.model = try ModelConfig(gguf: g, maxSeq: seq > 0 ? seq : nil)
                let types = Dictionary(grouping: g.tensors, by: { $0.type.name }).map { "\($0.value.count) \($0.key)" }
                source = "\(m): GGUF v\(g.version), \(g.metadata["general.architecture"]?.string ?? "?") "
                    + "'\(g.metadata["general.name"]?.string ?? "")', \(g.tensors.count) tensors (\(types.sorted().joined(separator: ", ")))\n"
                    + "  d_model \(cfg.model.dModel), \(cfg.model.nLayers) layers, \(cfg.model.nHeads) heads "
                    + "(\(cfg.model.nKVHeads) KV), d_ff \(cfg.model.dFF), vocab \(cfg.model.vocab), context \(cfg.model.maxSeq), "
                    + "rope theta \(cfg.model.ropeTheta), rms eps \(cfg.model.normEps), "
                    + (cfg.model.tieEmbeddings ? "tied head" : "untied head")
            } catch let e as IBTPOError { fail(e) }
        } else {
            cfg.model = try opts.modelConfig()
        }
        cfg.batch = batch; cfg.seq = seq > 0 ? seq : cfg.model.maxSeq; cfg.threads = opts.threads
        print("libibtpo \(LibraryVersion.string)")
        print("BLIS \(BLISInfo.version), kernels: \(BLISInfo.architecture)")
        print("sgemm kernel: \(MatmulKernel.description) (automatic choice: \(MatmulKernel.automatic.name); "
            + "IBTPO_KERNEL=auto|blis|avx512 overrides)")
        if let w = MatmulKernel.warning { print("warning: \(w)") }
        print("CPU: \(MatmulKernel.cpu), widest FMA: \(FMAPeak.width) bits")
        print("threads: \(opts.threads)")
        if let source { print(source) }
        do {
            let plan = try Trainer.plan(cfg)
            print("model '\(opts.modelName)': \(ParamLayout(cfg.model).parameterCount) parameters; batch \(batch) × seq \(cfg.seq)")
            print("memory plan (one arena):")
            print(plan.summary())
        } catch let e as IBTPOError { fail(e) }
    }
}
