/// `countdown`: reach a target from given numbers with + − × ÷, each number used at most once.
///
/// Format (numbers = 4):
///
///     prompt:   "make 175 from 3 7 10 25\n"
///     solution: "25*7=175\nanswer: 175"        (one valid solution; many may exist)
///
/// - The prompt lists the numbers in ascending order (duplicates possible).
/// - Each step is one line `a<op>b=c` with op one of `+ - * /`, canonical decimals
///   (no spaces, no signs, no leading zeros). `*` is ×, `/` is ÷.
/// - The reference solution uses every number: (numbers − 1) steps.
///
/// Reward, in {0, 1}. Every step is checked; 1 iff all of:
/// - there is at least one step and the `AnswerLine` structure holds;
/// - each step parses; its operands a and b are available: a given number or an earlier
///   step's result, each occurrence usable once (a step consumes a and b and adds c);
/// - the arithmetic is right: c = a+b, a−b (needs a ≥ b: all values are non-negative
///   integers), a×b, or a÷b (needs b > 0 and no remainder);
/// - the last step's result is the target, and the answer line is exactly "answer: <target>".
/// Unused numbers and extra (legal) steps are allowed.
///
/// Generation: draw the numbers, then combine random pairs with random operations until one
/// value is left (every intermediate a positive integer ≤ 9999, division exact, no ×1 or ÷1);
/// reject unless the result is in 1...maxTarget and not one of the numbers.
/// Split key: the sorted numbers and the target.
public struct CountdownTask: TrainingTask {
    public let name = "countdown"
    public let stepDelimiter = "\n"
    /// How many numbers are given, 3...5 (the difficulty knob).
    public let count: Int
    /// Numbers are drawn uniformly from 1...maxNumber, maxNumber in 4...100.
    public let maxNumber: Int
    /// Targets are in 1...maxTarget, maxTarget in 10...9999.
    public let maxTarget: Int
    public let seed: UInt64

    public static let countRange = 3...5
    public static let maxNumberRange = 4...100
    public static let maxTargetRange = 10...9999
    static let intermediateLimit = 9999

    /// Throws `TaskError.optionOutOfRange` for a knob outside its range.
    public init(count: Int = 4, maxNumber: Int = 25, maxTarget: Int = 999, seed: UInt64) throws {
        let checks: [(String, Int, ClosedRange<Int>)] = [
            ("numbers", count, CountdownTask.countRange),
            ("max_number", maxNumber, CountdownTask.maxNumberRange),
            ("max_target", maxTarget, CountdownTask.maxTargetRange),
        ]
        for (option, value, range) in checks where !range.contains(value) {
            throw TaskError.optionOutOfRange(task: "countdown", option: option, value: value, range: range)
        }
        self.count = count
        self.maxNumber = maxNumber
        self.maxTarget = maxTarget
        self.seed = seed
    }

    public func problemCount(split: Split) -> Int? { nil }

    /// The split key of a problem.
    public static func key(numbers: [Int], target: Int) -> String {
        "countdown:" + numbers.sorted().map(String.init).joined(separator: " ") + ">\(target)"
    }

    public static func prompt(numbers: [Int], target: Int) -> String {
        "make \(target) from " + numbers.sorted().map(String.init).joined(separator: " ") + "\n"
    }

    public func problem(split: Split, index: Int) -> Problem {
        var rng = SplitRule.rng(task: name, seed: seed, split: split, index: index)
        for _ in 0..<SplitRule.maxAttempts {
            let numbers = (0..<count).map { _ in rng.int(in: 1...maxNumber) }
            guard let (target, steps) = CountdownTask.combine(numbers, rng: &rng),
                  target <= maxTarget, !numbers.contains(target),
                  SplitRule.split(ofKey: CountdownTask.key(numbers: numbers, target: target)) == split else { continue }
            return CountdownTask.makeProblem(numbers: numbers, target: target, steps: steps)
        }
        SplitRule.exhausted(task: name, split: split, index: index)
    }

    static func makeProblem(numbers: [Int], target: Int, steps: [String]) -> Problem {
        return Problem(prompt: CountdownTask.prompt(numbers: numbers, target: target),
                       solution: (steps + [AnswerLine.line(String(target))]).joined(separator: "\n"),
                       answer: String(target))
    }

    /// Combines random pairs until one value is left. Nil if a pair admits no legal operation.
    static func combine(_ numbers: [Int], rng: inout SplitMix64) -> (Int, [String])? {
        var pool = numbers
        var steps: [String] = []
        while pool.count > 1 {
            let i = rng.next(below: pool.count)
            var j = rng.next(below: pool.count - 1)
            if j >= i { j += 1 }
            let hi = max(pool[i], pool[j]), lo = min(pool[i], pool[j])
            var options: [(String, Int)] = []
            if hi + lo <= intermediateLimit { options.append(("\(hi)+\(lo)", hi + lo)) }
            if hi > lo { options.append(("\(hi)-\(lo)", hi - lo)) }
            if lo > 1 && hi * lo <= intermediateLimit { options.append(("\(hi)*\(lo)", hi * lo)) }
            if lo > 1 && hi % lo == 0 { options.append(("\(hi)/\(lo)", hi / lo)) }
            guard !options.isEmpty else { return nil }
            let (text, value) = options[rng.next(below: options.count)]
            steps.append("\(text)=\(value)")
            pool.remove(at: max(i, j))
            pool.remove(at: min(i, j))
            pool.append(value)
        }
        guard let result = pool.first else { return nil }
        return (result, steps)
    }

    /// Parses the prompt back into (numbers, target). Nil if it is not a countdown prompt.
    public static func parsePrompt(_ prompt: String) -> (numbers: [Int], target: Int)? {
        guard prompt.hasPrefix("make "), prompt.hasSuffix("\n") else { return nil }
        let words = prompt.dropFirst(5).dropLast().split(separator: " ", omittingEmptySubsequences: false)
        guard words.count >= 3, words[1] == "from", let target = Decimal.parse(words[0]) else { return nil }
        var numbers: [Int] = []
        for w in words.dropFirst(2) {
            guard let n = Decimal.parse(w) else { return nil }
            numbers.append(n)
        }
        return (numbers, target)
    }

    /// Parses a step `a<op>b=c`. Nil if malformed.
    static func parseStep(_ step: Substring) -> (a: Int, op: UInt8, b: Int, c: Int)? {
        let bytes = Array(step.utf8)
        guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let lhs = bytes[..<eq]
        // The operator is the first non-digit of the left side (operands have no signs).
        guard let opIndex = lhs.firstIndex(where: { $0 < UInt8(ascii: "0") || $0 > UInt8(ascii: "9") }) else { return nil }
        let op = bytes[opIndex]
        guard [UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/")].contains(op),
              let a = Decimal.parse(String(decoding: bytes[..<opIndex], as: UTF8.self)),
              let b = Decimal.parse(String(decoding: bytes[(opIndex + 1)..<eq], as: UTF8.self)),
              let c = Decimal.parse(String(decoding: bytes[(eq + 1)...], as: UTF8.self)) else { return nil }
        return (a, op, b, c)
    }

    /// The exact result of `a op b` over non-negative integers, or nil if illegal or overflowing.
    static func apply(_ a: Int, _ op: UInt8, _ b: Int) -> Int? {
        switch op {
        case UInt8(ascii: "+"): let r = a.addingReportingOverflow(b); return r.overflow ? nil : r.partialValue
        case UInt8(ascii: "-"): return a >= b ? a - b : nil
        case UInt8(ascii: "*"): let r = a.multipliedReportingOverflow(by: b); return r.overflow ? nil : r.partialValue
        case UInt8(ascii: "/"): return b > 0 && a % b == 0 ? a / b : nil
        default: return nil
        }
    }

    /// Reward as documented on the type. The numbers and target are read from `problem.prompt`.
    public func reward(for problem: Problem, completion: String) -> Float {
        guard let (numbers, target) = CountdownTask.parsePrompt(problem.prompt),
              let parsed = AnswerLine.parse(completion, delimiter: stepDelimiter),
              !parsed.steps.isEmpty,
              parsed.answer.utf8.elementsEqual((" " + String(target)).utf8) else { return 0 }
        var available: [Int: Int] = [:]
        for n in numbers { available[n, default: 0] += 1 }
        var last = -1
        for step in parsed.steps {
            guard let (a, op, b, c) = CountdownTask.parseStep(step),
                  CountdownTask.apply(a, op, b) == c else { return 0 }
            for operand in [a, b] {
                guard let k = available[operand], k > 0 else { return 0 }
                available[operand] = k - 1
            }
            available[c, default: 0] += 1
            last = c
        }
        return last == target ? 1 : 0
    }
}
