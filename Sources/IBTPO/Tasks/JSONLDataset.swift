/// An error loading a dataset. `line` is 1-based; nil for errors about the whole file.
/// The description reads "<file>:<line>: <message>" or "<file>: <message>".
public struct DatasetError: Error, Equatable, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// A user dataset in JSON Lines: one JSON object per line,
///
///     {"prompt": "What is 6*7?\n", "answer": "42", "solution": "6*7=42\nanswer: 42"}
///
/// - No field read here may contain U+0000 (`\u0000`): problems cross the C API as C strings.
/// - `prompt` (string, required, non-empty): used verbatim; the completion starts right after it.
/// - `answer` (string, required): stored whitespace-normalised (see `normalize`); must not be
///   empty after normalisation or contain the step delimiter.
/// - `solution` (string or null, optional): the reference completion for SFT. It must end with an
///   answer line that this dataset's verifier accepts for `answer`. Without it, the problem's
///   `solution` is just the answer line "answer: <answer>".
/// - `split` (string "train" or "test", optional): forces the split. Without it the prompt
///   decides: `SplitRule.split(ofKey: prompt)` (about 10% test, stable across runs).
/// - Other fields are ignored.
///
/// Loading rules:
/// - The file must be a regular file of at most `maxFileBytes` (1 GiB).
/// - Object keys are compared by their exact Unicode scalars ("\u00e9" and "e\u0301" differ);
///   a key repeated exactly is an error.
/// - Lines are separated by "\n"; one trailing "\r" per line is removed; a UTF-8 byte order mark
///   at the start of the file is skipped. Empty or whitespace-only lines are skipped (they still
///   count for line numbers).
/// - `tokenCount(prompt + completion)` must be <= `maxTokens`, where completion is the solution
///   (or the answer line). Count any BOS/EOS inside `tokenCount` or pass a smaller `maxTokens`.
/// - The same prompt may not be forced into both splits; both splits must be non-empty.
/// - All or nothing: any error throws a `DatasetError` naming the file, the 1-based line and the
///   problem, and no dataset is returned.
///
/// Reward: 1 iff the completion has the `AnswerLine` structure and the text after the marker,
/// normalised, equals the normalised answer; otherwise 0.
public struct JSONLDataset: TrainingTask {
    public let name: String
    public let stepDelimiter: String
    /// The problems of each split, in file order.
    public let train: [Problem]
    public let test: [Problem]

    /// The largest dataset file `load` reads: 1 GiB.
    public static let maxFileBytes = 1 << 30
    /// The longest step delimiter a data set takes, in UTF-8 bytes.
    public static let maxStepDelimiterBytes = 64

    /// Loads the file at `path`, which must be a regular file of at most `maxFileBytes`
    /// (a FIFO, a device such as /dev/zero or a directory is refused before anything is read).
    /// `name` defaults to the file name without directory and extension.
    public static func load(path: String, maxTokens: Int, tokenCount: (String) -> Int,
                            name: String? = nil, stepDelimiter: String = "\n") throws -> JSONLDataset {
        switch FileBytes.read(path: path, maxBytes: maxFileBytes) {
        case let .failure(e):
            throw DatasetError(file: path, line: nil, message: "cannot read file: \(e.reason)")
        case let .success(bytes):
            return try parse(bytes: bytes, file: path, maxTokens: maxTokens, tokenCount: tokenCount,
                             name: name ?? defaultName(path), stepDelimiter: stepDelimiter)
        }
    }

    /// Parses JSONL bytes; `file` is used in error messages only. Same rules as `load`.
    public static func parse(bytes: [UInt8], file: String, maxTokens: Int, tokenCount: (String) -> Int,
                             name: String, stepDelimiter: String = "\n") throws -> JSONLDataset {
        func fail(_ line: Int?, _ message: String) -> DatasetError { DatasetError(file: file, line: line, message: message) }
        guard maxTokens > 0 else { throw fail(nil, "maxTokens must be positive, got \(maxTokens)") }
        guard !stepDelimiter.isEmpty && stepDelimiter.utf8.count <= maxStepDelimiterBytes else {
            throw fail(nil, "the step delimiter must be 1...\(maxStepDelimiterBytes) bytes (got \(stepDelimiter.utf8.count))")
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        var train: [Problem] = [], test: [Problem] = []
        var splitOfPrompt: [String: (Split, Int)] = [:]
        var lineNumber = 0
        for rawLine in body.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            if let bad = UTF8Check.firstInvalidOffset(Array(line)) {
                throw fail(lineNumber, "invalid UTF-8 at byte \(bad + 1) of the line")
            }
            let value: JSONValue
            do { value = try JSONParser.parse(line) } catch let e as JSONParseError {
                throw fail(lineNumber, "invalid JSON: \(e.message) at column \(e.offset + 1)")
            }
            guard case .object = value else {
                throw fail(lineNumber, "expected a JSON object, got \(value.typeName)")
            }
            func string(_ key: String, required: Bool) throws -> String? {
                guard let v = value[key] else {
                    if required { throw fail(lineNumber, "missing field \"\(key)\"") }
                    return nil
                }
                if case let .string(s) = v { return s }
                if case .null = v, !required { return nil }
                throw fail(lineNumber, "field \"\(key)\" must be a string, got \(v.typeName)")
            }
            let prompt = try string("prompt", required: true) ?? ""
            let rawAnswer = try string("answer", required: true) ?? ""
            let solution = try string("solution", required: false)
            for (key, text) in [("prompt", prompt), ("answer", rawAnswer), ("solution", solution ?? "")] where text.utf8.contains(0) {
                throw fail(lineNumber, "field \"\(key)\" contains a NUL character (\\u0000), which C strings cannot carry")
            }
            guard !prompt.isEmpty else { throw fail(lineNumber, "field \"prompt\" is empty") }
            let answer = normalize(rawAnswer)
            guard !answer.isEmpty else { throw fail(lineNumber, "field \"answer\" is empty or only whitespace") }
            guard AnswerLine.split(answer, on: stepDelimiter).count == 1 else {
                throw fail(lineNumber, "field \"answer\" contains the step delimiter \(stepDelimiter.debugDescription)")
            }
            let problem = Problem(prompt: prompt, solution: solution ?? AnswerLine.line(answer), answer: answer)
            if solution != nil, reward(problem, problem.solution, stepDelimiter) != 1 {
                let step = stepDelimiter == "\n" ? "a line" : "a step (after the step delimiter \(stepDelimiter.debugDescription))"
                throw fail(lineNumber, "field \"solution\" must end with \(step) \"\(AnswerLine.marker) <answer>\" whose answer matches field \"answer\"")
            }
            let tokens = tokenCount(prompt + problem.solution)
            guard tokens <= maxTokens else {
                throw fail(lineNumber, "prompt + \(solution == nil ? "answer line" : "solution") is \(tokens) tokens, longer than the model's context of \(maxTokens)")
            }
            let split: Split
            switch value["split"] {
            case nil, .null?: split = SplitRule.split(ofKey: prompt)
            case .string("train")?: split = .train
            case .string("test")?: split = .test
            case let other?: throw fail(lineNumber, "field \"split\" must be \"train\" or \"test\", got \(describe(other))")
            }
            if let (previous, previousLine) = splitOfPrompt[prompt], previous != split {
                throw fail(lineNumber, "the same prompt is in the \(previous.rawValue) split at line \(previousLine); train and test must not overlap")
            }
            splitOfPrompt[prompt] = splitOfPrompt[prompt] ?? (split, lineNumber)
            if split == .train { train.append(problem) } else { test.append(problem) }
        }
        guard !train.isEmpty || !test.isEmpty else { throw fail(nil, "no problems (the file has no non-empty lines)") }
        for (s, problems) in [(Split.train, train), (Split.test, test)] where problems.isEmpty {
            throw fail(nil, "the \(s.rawValue) split is empty; add \"split\": \"\(s.rawValue)\" to some lines")
        }
        return JSONLDataset(name: name, stepDelimiter: stepDelimiter, train: train, test: test)
    }

    /// Trims leading and trailing whitespace and collapses every run of whitespace (any
    /// `Character.isWhitespace`, newlines included) into one space.
    public static func normalize<S: StringProtocol>(_ text: S) -> String {
        var out = ""
        var pendingSpace = false
        for c in text {
            if c.isWhitespace {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(c)
            }
        }
        return out
    }

    public func problemCount(split: Split) -> Int? { split == .train ? train.count : test.count }

    /// The problem at `index` modulo the split's size (negative indices wrap too).
    public func problem(split: Split, index: Int) -> Problem {
        let problems = split == .train ? train : test
        // Both splits are non-empty by construction; the guard only keeps this trap-free.
        guard !problems.isEmpty else { return Problem(prompt: "", solution: "", answer: "") }
        let n = problems.count
        return problems[((index % n) + n) % n]
    }

    public func reward(for problem: Problem, completion: String) -> Float {
        JSONLDataset.reward(problem, completion, stepDelimiter)
    }

    static func reward(_ problem: Problem, _ completion: String, _ delimiter: String) -> Float {
        guard let parsed = AnswerLine.parse(completion, delimiter: delimiter) else { return 0 }
        return normalize(parsed.answer) == normalize(problem.answer) ? 1 : 0
    }

    static func defaultName(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return base }
        return String(base[..<dot])
    }

    static func describe(_ value: JSONValue) -> String {
        if case let .string(s) = value { return s.debugDescription }
        return value.typeName
    }
}
