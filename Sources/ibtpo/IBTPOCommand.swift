import ArgumentParser
import IBTPO

@main
struct IBTPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ibtpo",
        abstract: "Train and score small Llama-style policies with GRPO / IB-TPO on the CPU.",
        version: LibraryVersion.string,
        subcommands: [Demo.self, SFT.self, Eval.self, Sample.self, Score.self, Info.self, Bench.self, TreeBenchCommand.self, Train.self, Plot.self]
    )
}

/// Options shared by commands that build a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model preset: tiny or small.") var model: String = "tiny"
    @Option(help: "Worker threads (explicit; BLIS runs single-threaded inside each).") var threads: Int = 2
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func modelConfig() throws -> ModelConfig {
        switch model {
        case "tiny": return .tiny
        case "small": return .small
        default: throw ValidationError("unknown model preset '\(model)' (expected tiny or small)")
        }
    }
}

func fail(_ e: IBTPOError) -> Never {
    printErr("error: \(e.message)")
    IBTPOCommand.exit(withError: ExitCode(Int32(e.status.rawValue == 0 ? 1 : e.status.rawValue)))
}
