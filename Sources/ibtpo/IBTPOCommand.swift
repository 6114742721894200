import ArgumentParser
import Glibc
import IBTPO

@main
struct IBTPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ibtpo",
        abstract: "Train and score small Llama-style policies with GRPO / IB-TPO on the CPU.",
        discussion: """
        Option names follow the C API's field names (include/ibtpo.h: prompts_per_step is \
        --prompts-per-step) and their defaults are the C API's (ibtpo_*_default()). Every \
        subcommand also reads its options from a YAML file with --config FILE (docs/cli-config.md); \
        options on the command line override the file.
        """,
        version: LibraryVersion.string,
        subcommands: [Demo.self, SFT.self, Eval.self, Sample.self, Score.self, Info.self, Generate.self, Export.self, Bench.self, TreeBenchCommand.self, Train.self, Plot.self]
    )

    /// ArgumentParser's `main`, with `--config FILE` spliced in first (ConfigFile), and a
    /// parse error about one of the file's options reported as one line naming file and key.
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        let file: ConfigFile?
        do { file = try ConfigFile.splice(&args, root: IBTPOCommand.self) } catch let f as ConfigFile.Failure {
            printErr("error: \(f.message)")
            exit(withError: ExitCode(64))
        } catch { exit(withError: error) }
        var command: any ParsableCommand
        do { command = try parseAsRoot(args) } catch {
            if let file, let line = file.attribute(error, command: IBTPOCommand.self) {
                printErr("error: \(line)")
                exit(withError: ExitCode(64))
            }
            exit(withError: error)
        }
        do { try command.run() } catch { exit(withError: error) }
    }
}

/// `--config FILE` in every subcommand's help (the file itself is read before parsing).
struct ConfigOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read options from a YAML file of 'option-name: value' lines (docs/cli-config.md); "
                               + "options on the command line override the file.", valueName: "file"))
    var config: String?
}

/// Options shared by commands that build a model or read a checkpoint.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Model preset (tiny or small; default: tiny, the C API's default model), or a pretrained "
                               + "model: a GGUF file, a Hugging Face directory or a checkpoint of a pretrained model. A command that reads a "
                               + "checkpoint takes the checkpoint's model; a different preset is an error there.",
                               valueName: "model"))
    var model: String?
    @Flag(help: "Render task prompts through the pretrained model's chat template (ChatML or Llama 3).")
    var chat = false
    @Option(help: "System message of --chat prompts (default: the template's own, if it has one).")
    var system: String?
    @Option(help: "Worker threads, 1...64 (explicit; BLIS runs single-threaded inside each).")
    var threads: Int = APIDefaults.trainer.threads
    @Option(help: "Random seed.") var seed: UInt64 = APIDefaults.trainer.seed

    static let presets: [(name: String, config: ModelConfig)] = [("tiny", .tiny), ("small", .small)]

    /// The preset's name (the C default model's when --model is not given).
    var modelName: String { model ?? ModelOptions.presets.first { $0.config == APIDefaults.model }?.name ?? "tiny" }

    /// The preset's config, or the pretrained model's (context capped at `maxSeq`).
    func modelConfig(maxSeq: Int? = nil) throws -> ModelConfig {
        if let p = try openPretrained(maxSeq: maxSeq) { return p.config }
        guard let p = ModelOptions.presets.first(where: { $0.name == modelName }) else {
            throw ValidationError("unknown model preset '\(modelName)' (expected tiny or small)")
        }
        return p.config
    }

    /// For commands whose checkpoint decides the model: a --model that names another model
    /// than `checkpoint`'s (max_seq aside, which `sft --seq` may raise) is an error.
    func check(checkpoint path: String, model: ModelConfig) throws {
        guard let name = self.model else { return }
        var preset = try modelConfig()
        preset.maxSeq = model.maxSeq
        guard preset == model else {
            throw ValidationError("--model \(name) differs from the model of \(path) (d_model \(model.dModel), "
                + "\(model.nLayers) layers); the checkpoint decides the model: leave --model out")
        }
    }
}

/// `--seq`'s one meaning, shared by every command that has it.
let seqHelp = ArgumentHelp(
    "Tokens per sequence, prompt + completion with BOS and EOS: the length of a training row and the context a "
        + "completion may fill (at most the model's max_seq; 0 = the model's max_seq).")

/// `--print-config`'s help.
let printConfigHelp = ArgumentHelp(
    "Print the configuration this command would hand to the library, as 'name = value' lines in the C API's "
        + "field names, and exit.")

/// Prints `--print-config`'s lines.
func printFields(_ fields: [(String, String)]) {
    for (k, v) in fields { print("\(k) = \(v)") }
}

func fail(_ e: IBTPOError) -> Never {
    printErr("error: \(e.message)")
    IBTPOCommand.exit(withError: ExitCode(Int32(e.status.rawValue == 0 ? 1 : e.status.rawValue)))
}

/// A comma-separated list of integers ≥ 1 ("1,2"); `flag` names the option in the error.
func intList(_ s: String, _ flag: String) throws -> [Int] {
    let v = s.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
    guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw ValidationError("\(flag) expects comma-separated integers ≥ 1, got '\(s)'")
    }
    return v.map { $0! }
}
