import CIBTPO

/// The object behind an `ibtpo_task *`: an immutable task, shared by reference (a trainer
/// that uses it retains it, so the caller may free its reference at any time).
final class TaskHandle {
    let task: any TrainingTask
    /// False for in-memory tasks created without answers: RL and evaluation then need a
    /// reward callback.
    let hasAnswers: Bool
    /// False for in-memory tasks created with neither answers nor solutions: nothing to SFT on.
    let hasSolutions: Bool

    init(_ task: any TrainingTask, hasAnswers: Bool = true, hasSolutions: Bool = true) {
        self.task = task
        self.hasAnswers = hasAnswers
        self.hasSolutions = hasSolutions
    }

    /// Problem `index` of `split` as the C API shows it: a task without answers has answer
    /// "" (and solution "" when it has no solutions either).
    func problem(_ split: Split, _ index: Int) -> Problem {
        var p = task.problem(split: split, index: index)
        if !hasAnswers { p.answer = "" }
        if !hasSolutions { p.solution = "" }
        return p
    }

    /// The handle behind `p`, or nil for NULL or a pointer that is not a live task.
    static func from(_ p: OpaquePointer?) -> TaskHandle? { LiveHandles.object(p, kind: .task) }

    /// `from`, throwing a message that names the argument.
    static func require(_ p: OpaquePointer?, _ name: String = "task") throws -> TaskHandle {
        guard let h = from(p) else { throw invalid(p == nil ? "\(name) is NULL" : "\(name) is not a live task") }
        return h
    }

    /// Retained, registered handle for the caller.
    func opaque() -> OpaquePointer { LiveHandles.register(self, kind: .task) }
}

/// Parses "name=value" pairs separated by commas or spaces into task options.
func parseTaskOptions(_ text: String) throws -> [String: Int] {
    var out: [String: Int] = [:]
    for item in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
        let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, let v = Int(parts[1]) else {
            throw invalid("task option '\(item)' is not name=integer")
        }
        guard out[String(parts[0])] == nil else { throw invalid("task option '\(parts[0])' is given twice") }
        out[String(parts[0])] = v
    }
    return out
}

/// Builds JSON Lines text for in-memory problems, so that they go through exactly the
/// validation of `JSONLDataset.parse` (the same rules and messages as a file).
enum MemoryDataset {
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// One record per problem, validated by `JSONLDataset.parse` (the same rules and messages
    /// as a file). Without answers the problems are kept as given (prompt, solution or "",
    /// answer ""): such a task is judged by a reward callback only, and its solutions are not
    /// checked against an answer line.
    static func make(prompts: [String], answers: [String]?, solutions: [String]?, splits: [Split]?,
                     maxTokens: Int, stepDelimiter: String = "\n") throws -> any TrainingTask {
        guard let answers else {
            var train: [Problem] = [], test: [Problem] = []
            var splitOf: [String: Split] = [:]
            for (i, prompt) in prompts.enumerated() {
                guard !prompt.isEmpty else { throw IBTPOError(.badData, "prompts[\(i)] is empty") }
                let sp = splits?[i] ?? SplitRule.split(ofKey: prompt)
                if let other = splitOf[prompt], other != sp {
                    throw IBTPOError(.badData, "prompts[\(i)] is in both splits; train and test must not overlap")
                }
                splitOf[prompt] = sp
                let p = Problem(prompt: prompt, solution: solutions?[i] ?? "", answer: "")
                if sp == .train { train.append(p) } else { test.append(p) }
            }
            for (name, part) in [("train", train), ("test", test)] where part.isEmpty {
                throw IBTPOError(.badData, "the \(name) split is empty; pass splits (IBTPO_SPLIT_TRAIN / IBTPO_SPLIT_TEST) or more prompts")
            }
            return JSONLDataset(name: "memory", stepDelimiter: stepDelimiter, train: train, test: test)
        }
        var text = ""
        for i in 0..<prompts.count {
            text += "{\"prompt\": " + jsonString(prompts[i])
            text += ", \"answer\": " + jsonString(answers[i])
            if let solutions { text += ", \"solution\": " + jsonString(solutions[i]) }
            if let splits { text += ", \"split\": \"" + splits[i].rawValue + "\"" }
            text += "}\n"
        }
        return try JSONLDataset.parse(bytes: Array(text.utf8), file: "<memory>", maxTokens: maxTokens,
                                      tokenCount: { $0.utf8.count + 2 }, name: "memory",
                                      stepDelimiter: stepDelimiter)
    }
}
