import ArgumentParser
import IBTPO

/// Options that pick a task: a built-in one by name and options, or a JSONL file.
struct TaskOptions: ParsableArguments {
    @Option(help: "Built-in task: add, countdown or modchain.") var task: String = "add"
    @Option(name: .customLong("option"), help: "Task option NAME=VALUE (repeatable), e.g. --option digits=3.")
    var taskOptions: [String] = []
    @Option(help: "A JSON Lines dataset (fields prompt, answer, optional solution) instead of --task.")
    var data: String?
    @Option(help: "Seed of the task's problem generator.") var taskSeed: UInt64 = 1

    /// The task; throws a readable error for an unknown task, bad option or bad file.
    func load(maxTokens: Int) throws -> any TrainingTask {
        if let data {
            let tok = ByteTokenizer()
            return try JSONLDataset.load(path: data, maxTokens: maxTokens, tokenCount: { tok.count($0) + 2 })
        }
        var opts: [String: Int] = [:]
        for o in taskOptions {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let v = Int(parts[1]) else {
                throw ValidationError("--option expects NAME=INTEGER, got '\(o)'")
            }
            opts[parts[0]] = v
        }
        return try builtinTask(name: task, options: opts, seed: taskSeed)
    }
}

/// Runs `body`, turning library errors into a message and a non-zero exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() }
    catch let e as IBTPOError { fail(e) }
    catch let e as TaskError { printErr("error: \(e)"); throw ExitCode(2) }
    catch let e as DatasetError { printErr("error: \(e)"); throw ExitCode(Int32(Status.badData.rawValue)) }
}
