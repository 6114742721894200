// The task layer: what a policy is asked, what it should write, and how it is scored.
//
// The protocol is named `TrainingTask`, not `Task`, because `Task` would collide with
// Swift concurrency's `_Concurrency.Task` in every client that imports this module.

/// One problem of a task.
///
/// `prompt + solution` is the full text a model should produce for SFT: the completion starts
/// at the byte right after the prompt. Built-in prompts end with the step delimiter ("\n").
public struct Problem: Equatable, Hashable, Sendable {
    /// The text the policy is conditioned on.
    public var prompt: String
    /// The reference completion: steps separated by the task's step delimiter, then a final
    /// answer line `answer: <answer>` (see `AnswerLine`). No trailing delimiter; EOS is added
    /// by the tokenizer layer. The task's own verifier gives it reward 1.
    public var solution: String
    /// The expected final answer (the text after the answer marker in `solution`).
    public var answer: String

    public init(prompt: String, solution: String, answer: String) {
        self.prompt = prompt
        self.solution = solution
        self.answer = answer
    }
}

/// The two disjoint splits of a task. No problem (compared by the task's canonical key,
/// which for built-ins is at least as coarse as the prompt) ever occurs in both.
public enum Split: String, CaseIterable, Sendable {
    case train
    case test
}

/// A source of problems with a verifiable reward.
///
/// Guarantees every conforming type in this module gives:
/// - `problem(split:index:)` is a pure function of (task configuration, seed, split, index).
/// - The train and test splits never share a problem.
/// - `reward(for:completion:)` is a pure function in [0, 1] and never traps, whatever the completion.
/// - `reward(for: p, completion: p.solution) == 1` for every problem `p` the task produces.
public protocol TrainingTask: Sendable {
    /// A short identifier, e.g. "add".
    var name: String { get }
    /// Separates steps inside a completion. "\n" for every built-in task.
    var stepDelimiter: String { get }
    /// The number of distinct indices of `split`, or nil if the split is an unbounded generator.
    /// For a finite split, indices wrap around modulo the count.
    func problemCount(split: Split) -> Int?
    /// The problem at `index` (any Int, negative included) of `split`. Deterministic.
    func problem(split: Split, index: Int) -> Problem
    /// The reward of `completion` (the text generated after `problem.prompt`, without EOS), in [0, 1].
    func reward(for problem: Problem, completion: String) -> Float
}

/// Errors from configuring a task. Each description is a complete, human-readable sentence.
public enum TaskError: Error, Equatable, CustomStringConvertible, Sendable {
    case unknownTask(name: String, known: [String])
    case unknownOption(task: String, option: String, known: [String])
    case optionOutOfRange(task: String, option: String, value: Int, range: ClosedRange<Int>)
    case invalidConfiguration(task: String, message: String)

    public var description: String {
        switch self {
        case let .unknownTask(name, known):
            return "unknown task '\(name)'; built-in tasks are: \(known.joined(separator: ", "))"
        case let .unknownOption(task, option, known):
            let list = known.isEmpty ? "(none)" : known.joined(separator: ", ")
            return "task '\(task)' has no option '\(option)'; its options are: \(list)"
        case let .optionOutOfRange(task, option, value, range):
            return "task '\(task)': option '\(option)' = \(value) is outside \(range.lowerBound)...\(range.upperBound)"
        case let .invalidConfiguration(task, message):
            return "task '\(task)': \(message)"
        }
    }
}
