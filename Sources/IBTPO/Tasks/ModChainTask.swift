/// `modchain`: apply a chain of operations to a start value, reducing modulo m after each.
///
/// Format (steps = 3, mod = 11):
///
///     prompt:   "5 +3 *4 -6 mod 11\n"
///     solution: "5+3=8%11=8\n8*4=32%11=10\n10-6=4%11=4\nanswer: 4"
///
/// - The prompt is the start value v0 in 0..<m, then `steps` operations `+k`, `-k` or `*k`
///   with k in 1..<m, then `mod m`.
/// - Step i is `v<op>k=r%m=w`: v is the running value, r the exact integer result (negative
///   after a subtraction below zero), w = r mod m in 0..<m (mathematical modulo). w is the
///   next running value; the last one is the answer.
/// - Split key: the prompt.
///
/// Reward (outcome-based, in {0, 1}): 1 iff the completion has the `AnswerLine` structure and
/// the text after "answer: " is exactly the final value in canonical decimal. Steps are not
/// checked (a right answer after wrong steps gets 1); trailing text after the answer line other
/// than one "\n", leading zeros, or spaces give 0.
public struct ModChainTask: TrainingTask {
    public let name = "modchain"
    public let stepDelimiter = "\n"
    /// Number of operations, 1...16 (the difficulty knob).
    public let steps: Int
    /// The modulus, 5...97.
    public let modulus: Int
    public let seed: UInt64

    public static let stepsRange = 1...16
    public static let modulusRange = 5...97

    /// Throws `TaskError.optionOutOfRange` for a knob outside its range.
    public init(steps: Int = 4, modulus: Int = 11, seed: UInt64) throws {
        guard ModChainTask.stepsRange.contains(steps) else {
            throw TaskError.optionOutOfRange(task: "modchain", option: "steps", value: steps, range: ModChainTask.stepsRange)
        }
        guard ModChainTask.modulusRange.contains(modulus) else {
            throw TaskError.optionOutOfRange(task: "modchain", option: "mod", value: modulus, range: ModChainTask.modulusRange)
        }
        self.steps = steps
        self.modulus = modulus
        self.seed = seed
    }

    public func problemCount(split: Split) -> Int? { nil }

    public func problem(split: Split, index: Int) -> Problem {
        var rng = SplitRule.rng(task: name, seed: seed, split: split, index: index)
        let ops: [Character] = ["+", "-", "*"]
        for _ in 0..<SplitRule.maxAttempts {
            let start = rng.next(below: modulus)
            var chain: [(Character, Int)] = []
            for _ in 0..<steps {
                chain.append((ops[rng.next(below: 3)], rng.int(in: 1...(modulus - 1))))
            }
            let problem = ModChainTask.makeProblem(start: start, chain: chain, modulus: modulus)
            if SplitRule.split(ofKey: "modchain:" + problem.prompt) == split { return problem }
        }
        SplitRule.exhausted(task: name, split: split, index: index)
    }

    /// The problem for a start value and chain, with its reference solution.
    static func makeProblem(start: Int, chain: [(Character, Int)], modulus m: Int) -> Problem {
        var prompt = String(start)
        var lines: [String] = []
        var v = start
        for (op, k) in chain {
            prompt += " \(op)\(k)"
            let r: Int
            switch op {
            case "+": r = v + k
            case "-": r = v - k
            default: r = v * k
            }
            let w = ((r % m) + m) % m
            lines.append("\(v)\(op)\(k)=\(r)%\(m)=\(w)")
            v = w
        }
        prompt += " mod \(m)\n"
        lines.append(AnswerLine.line(String(v)))
        return Problem(prompt: prompt, solution: lines.joined(separator: "\n"), answer: String(v))
    }

    public func reward(for problem: Problem, completion: String) -> Float {
        guard let parsed = AnswerLine.parse(completion, delimiter: stepDelimiter) else { return 0 }
        return parsed.answer.utf8.elementsEqual((" " + problem.answer).utf8) ? 1 : 0
    }
}
