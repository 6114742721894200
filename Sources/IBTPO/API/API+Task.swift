import CIBTPO

/// Reads `count` NUL-terminated strings (each must be non-NULL and valid UTF-8).
private func strings(_ p: UnsafePointer<UnsafePointer<CChar>?>, _ count: Int, _ name: String) throws -> [String] {
    try (0..<count).map { i in
        guard let s = p[i] else { throw invalid("\(name)[\(i)] is NULL") }
        guard let str = String(validatingCString: s) else { throw invalid("\(name)[\(i)] is not valid UTF-8") }
        return str
    }
}

/// The longest sequence any trainer holds (ModelConfig's max_seq limit).
let longestTrainerSequence = 1 << 16

/// Refuses, naming its index, a problem whose SFT row ([BOS] prompt completion [EOS]) is
/// longer than any trainer's sequence: it could never be trained on, and step_sft would fail
/// at it on every call. The completion is the solution, else the (normalised) answer line.
func checkMemoryLengths(prompts: [String], answers: [String]?, solutions: [String]?) throws {
    for i in prompts.indices {
        let completion = solutions?[i] ?? answers.map { AnswerLine.line(JSONLDataset.normalize($0[i])) } ?? ""
        let tokens = 1 + prompts[i].utf8.count + completion.utf8.count + 1
        guard tokens - 1 <= longestTrainerSequence else {
            let what = solutions != nil ? "solution" : answers != nil ? "answer line" : "no completion"
            throw IBTPOError(.badData, "prompts[\(i)]: prompt + \(what) need \(tokens - 1) positions, more than "
                             + "\(longestTrainerSequence), the longest sequence a trainer holds (max_seq <= 65536)")
        }
    }
}

@c @implementation
public func ibtpo_task_create_builtin(_ name: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?, _ seed: UInt64,
                                      _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let out else { throw invalid("out is NULL") }
        out.pointee = nil
        guard let name else { throw invalid("name is NULL") }
        let opts = try options.map { try parseTaskOptions(String(cString: $0)) } ?? [:]
        let task = try builtinTask(name: String(cString: name), options: opts, seed: seed)
        out.pointee = TaskHandle(task).opaque()
    }
}

@c @implementation
public func ibtpo_task_create_jsonl(_ path: UnsafePointer<CChar>?, _ maxTokens: Int32,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    ibtpo_task_create_jsonl_ex(path, maxTokens, nil, out)
}

/// The step delimiter a caller passed (NULL: "\n"): 1...64 bytes of valid UTF-8.
func stepDelimiter(_ p: UnsafePointer<CChar>?) throws -> String {
    guard let p else { return "\n" }
    guard let d = String(validatingCString: p) else { throw invalid("step_delimiter is not valid UTF-8") }
    let limit = JSONLDataset.maxStepDelimiterBytes
    guard !d.isEmpty && d.utf8.count <= limit else { throw invalid("step_delimiter must be 1...\(limit) bytes (got \(d.utf8.count))") }
    return d
}

@c @implementation
public func ibtpo_task_create_jsonl_ex(_ path: UnsafePointer<CChar>?, _ maxTokens: Int32,
                                       _ delimiter: UnsafePointer<CChar>?,
                                       _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let out else { throw invalid("out is NULL") }
        out.pointee = nil
        guard let path else { throw invalid("path is NULL") }
        guard maxTokens >= 1 && maxTokens <= 65536 else { throw invalid("max_tokens must be in 1...65536 (got \(maxTokens))") }
        let d = try stepDelimiter(delimiter)
        let task = try JSONLDataset.load(path: String(cString: path), maxTokens: Int(maxTokens),
                                         tokenCount: { $0.utf8.count + 2 }, stepDelimiter: d)
        out.pointee = TaskHandle(task).opaque()
    }
}

@c @implementation
public func ibtpo_task_create_memory(_ prompts: UnsafePointer<UnsafePointer<CChar>?>?,
                                     _ answers: UnsafePointer<UnsafePointer<CChar>?>?,
                                     _ solutions: UnsafePointer<UnsafePointer<CChar>?>?, _ splits: UnsafePointer<Int32>?,
                                     _ count: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    ibtpo_task_create_memory_ex(prompts, answers, solutions, splits, count, nil, out)
}

@c @implementation
public func ibtpo_task_create_memory_ex(_ prompts: UnsafePointer<UnsafePointer<CChar>?>?,
                                     _ answers: UnsafePointer<UnsafePointer<CChar>?>?,
                                     _ solutions: UnsafePointer<UnsafePointer<CChar>?>?, _ splits: UnsafePointer<Int32>?,
                                     _ count: Int64, _ delimiter: UnsafePointer<CChar>?,
                                     _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        guard let out else { throw invalid("out is NULL") }
        out.pointee = nil
        guard let prompts else { throw invalid("prompts is NULL") }
        guard count >= 1 && count <= 1 << 24 else { throw invalid("count must be in 1...16777216 (got \(count))") }
        let n = Int(count)
        let d = try stepDelimiter(delimiter)
        let p = try strings(prompts, n, "prompts")
        let a = try answers.map { try strings($0, n, "answers") }
        let s = try solutions.map { try strings($0, n, "solutions") }
        let sp: [Split]? = try splits.map { ptr in
            try (0..<n).map { i in
                switch ptr[i] {
                case IBTPO_SPLIT_TRAIN: return .train
                case IBTPO_SPLIT_TEST: return .test
                default: throw invalid("splits[\(i)] = \(ptr[i]) is not IBTPO_SPLIT_TRAIN (0) or IBTPO_SPLIT_TEST (1)")
                }
            }
        }
        try checkMemoryLengths(prompts: p, answers: a, solutions: s)
        let task = try MemoryDataset.make(prompts: p, answers: a, solutions: s, splits: sp, maxTokens: 1 << 20,
                                         stepDelimiter: d)
        out.pointee = TaskHandle(task, hasAnswers: a != nil, hasSolutions: a != nil || s != nil).opaque()
    }
}

@c @implementation
public func ibtpo_task_free(_ task: OpaquePointer?) {
    LiveHandles.release(task, kind: .task, as: TaskHandle.self)
}

func split(_ v: Int32) throws -> Split {
    switch v {
    case IBTPO_SPLIT_TRAIN: return .train
    case IBTPO_SPLIT_TEST: return .test
    default: throw invalid("split must be IBTPO_SPLIT_TRAIN (0) or IBTPO_SPLIT_TEST (1) (got \(v))")
    }
}

@c @implementation
public func ibtpo_task_problem_count(_ task: OpaquePointer?, _ splitValue: Int32,
                                     _ out: UnsafeMutablePointer<Int64>?) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        let h = try TaskHandle.require(task)
        guard let out else { throw invalid("out_count is NULL") }
        out.pointee = Int64(h.task.problemCount(split: try split(splitValue)) ?? -1)
    }
}

@c @implementation
public func ibtpo_task_get_problem(_ task: OpaquePointer?, _ splitValue: Int32, _ index: Int64,
                                   _ prompt: UnsafeMutablePointer<CChar>?, _ solution: UnsafeMutablePointer<CChar>?,
                                   _ answer: UnsafeMutablePointer<CChar>?, _ capacity: Int64) -> ibtpo_status {
    guarded(ThreadError.buffer) {
        let h = try TaskHandle.require(task)
        let sp = try split(splitValue)
        let count = h.task.problemCount(split: sp)
        guard index >= 0 && (count.map { index < Int64($0) } ?? true) else {
            throw invalid("index \(index) is outside the \(sp.rawValue) split (\(count.map { "\($0) problems" } ?? "unbounded"))")
        }
        guard capacity >= 1 && capacity <= 1 << 30 else { throw invalid("capacity must be in 1...2^30 (got \(capacity))") }
        let p = h.problem(sp, Int(index))
        let fields: [(UnsafeMutablePointer<CChar>?, String, String)] =
            [(prompt, p.prompt, "prompt"), (solution, p.solution, "solution"), (answer, p.answer, "answer")]
        for (dst, text, name) in fields where dst != nil && text.utf8.count + 1 > Int(capacity) {
            throw invalid("the \(name) needs \(text.utf8.count + 1) bytes, more than capacity \(capacity)")
        }
        for (dst, text, _) in fields {
            guard let dst else { continue }
            var n = 0
            for b in text.utf8 { dst[n] = CChar(bitPattern: b); n += 1 }
            dst[n] = 0
        }
    }
}
