import ArgumentParser
import IBTPO

/// Options that pick a task: a built-in one by name and options, or a JSONL file.
struct TaskOptions: ParsableArguments {
    @Option(help: "Built-in task: add (the default), countdown or modchain.") var task: String?
    @Option(name: .customLong("option"), help: "Task option NAME=VALUE (repeatable), e.g. --option digits=3.")
    var taskOptions: [String] = []
    @Option(help: "A JSON Lines dataset (fields prompt, answer, optional solution) instead of --task.")
    var data: String?
    @Option(help: "Seed of the task's problem generator.") var taskSeed: UInt64 = 1
    @Option(help: ArgumentHelp("What separates a completion's steps in a --data set (default \\n); \\n, \\t and \\\\ are escapes.",
                               valueName: "TEXT"))
    var stepDelimiter: String?

    /// The task; throws a readable error for an unknown task, bad option or bad file.
    func load(maxTokens: Int) throws -> any TrainingTask {
        if let data {
            if let task {
                throw ValidationError("--task \(task) and --data \(data) name two tasks; give one of them")
            }
            if let o = taskOptions.first {
                throw ValidationError("--option \(o) sets a built-in task's option; a --data set takes none")
            }
            let tok = ByteTokenizer()
            let d = try stepDelimiter.map(Self.unescape) ?? "\n"
            return try JSONLDataset.load(path: data, maxTokens: maxTokens, tokenCount: { tok.count($0) + 2 },
                                         stepDelimiter: d)
        }
        if stepDelimiter != nil {
            throw ValidationError("--step-delimiter applies to --data sets; built-in tasks separate steps with \\n")
        }
        var opts: [String: Int] = [:]
        for o in taskOptions {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let v = Int(parts[1]) else {
                throw ValidationError("--option expects NAME=INTEGER, got '\(o)'")
            }
            opts[parts[0]] = v
        }
        return try builtinTask(name: task ?? "add", options: opts, seed: taskSeed)
    }
}

extension TaskOptions {
    /// `text` with the escapes \n, \t and \\ replaced (so a shell user can type "\n\n");
    /// 1...`JSONLDataset.maxStepDelimiterBytes` bytes after that, or a ValidationError.
    static func unescape(_ text: String) throws -> String {
        var out = "", escaped = false
        for ch in text {
            if escaped {
                switch ch {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "\\": out.append("\\")
                default: throw ValidationError("--step-delimiter: unknown escape \\\(ch) (use \\n, \\t or \\\\)")
                }
                escaped = false
            } else if ch == "\\" { escaped = true } else { out.append(ch) }
        }
        if escaped { throw ValidationError("--step-delimiter ends in a lone \\") }
        let limit = JSONLDataset.maxStepDelimiterBytes
        guard !out.isEmpty && out.utf8.count <= limit else {
            throw ValidationError("--step-delimiter must be 1...\(limit) bytes (got \(out.utf8.count))")
        }
        return out
    }
}

/// Runs `body`, turning library errors into a message and a non-zero exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() }
    catch let e as IBTPOError { fail(e) }
    catch let e as TaskError { printErr("error: \(e)"); throw ExitCode(2) }
    catch let e as DatasetError { printErr("error: \(e)"); throw ExitCode(Int32(Status.badData.rawValue)) }
}
