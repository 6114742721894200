/// `add`: multi-digit addition, solved column by column from the right with explicit carries.
///
/// Format (digits = 3):
///
///     prompt:   "347+285\n"
///     solution: "7+5+0=12\n4+8+1=13\n3+2+1=6\nanswer: 632"
///
/// - Operands are uniform in 0...(10^digits − 1), written without leading zeros.
/// - There is one step per column, exactly `digits` steps, rightmost column first. Step k is
///   `a+b+c=s`: a and b are the operands' k-th digits from the right (0 past a number's end),
///   c is the carry into the column (0 for the first), and s = a+b+c, whose tens digit is the
///   next carry. The last carry shows up in the answer.
/// - Split key: the unordered operand pair, so "a+b" and "b+a" are always in the same split.
///
/// Reward (outcome-based, in {0, 1}): 1 iff the completion has the `AnswerLine` structure and
/// the text after "answer: " is exactly the sum in canonical decimal. So:
/// - right answer with wrong or missing steps: 1 (steps are not checked);
/// - anything after the answer line other than one "\n": 0;
/// - leading zeros, a sign, spaces or a missing space after the marker: 0 (no normalisation).
public struct AdditionTask: TrainingTask {
    public let name = "add"
    public let stepDelimiter = "\n"
    /// Digits per operand, 1...18.
    public let digits: Int
    public let seed: UInt64

    public static let digitsRange = 1...18

    /// Throws `TaskError.optionOutOfRange` if `digits` is outside `digitsRange`.
    public init(digits: Int = 3, seed: UInt64) throws {
        guard AdditionTask.digitsRange.contains(digits) else {
            throw TaskError.optionOutOfRange(task: "add", option: "digits", value: digits, range: AdditionTask.digitsRange)
        }
        self.digits = digits
        self.seed = seed
    }

    public func problemCount(split: Split) -> Int? { nil }

    /// The split key of the pair (a, b).
    public static func key(_ a: Int, _ b: Int) -> String { "add:\(min(a, b))+\(max(a, b))" }

    public func problem(split: Split, index: Int) -> Problem {
        var rng = SplitRule.rng(task: name, seed: seed, split: split, index: index)
        var limit = 1
        for _ in 0..<digits { limit *= 10 }
        for _ in 0..<SplitRule.maxAttempts {
            let a = rng.next(below: limit)
            let b = rng.next(below: limit)
            if SplitRule.split(ofKey: AdditionTask.key(a, b)) == split {
                return AdditionTask.makeProblem(a, b, digits: digits)
            }
        }
        SplitRule.exhausted(task: name, split: split, index: index)
    }

    /// The problem a+b with its reference solution over `digits` columns.
    static func makeProblem(_ a: Int, _ b: Int, digits: Int) -> Problem {
        var lines: [String] = []
        var x = a, y = b, carry = 0
        for _ in 0..<digits {
            let da = x % 10, db = y % 10
            let s = da + db + carry
            lines.append("\(da)+\(db)+\(carry)=\(s)")
            carry = s / 10
            x /= 10
            y /= 10
        }
        let answer = String(a + b)
        lines.append(AnswerLine.line(answer))
        return Problem(prompt: "\(a)+\(b)\n", solution: lines.joined(separator: "\n"), answer: answer)
    }

    public func reward(for problem: Problem, completion: String) -> Float {
        guard let parsed = AnswerLine.parse(completion, delimiter: stepDelimiter) else { return 0 }
        return parsed.answer.utf8.elementsEqual((" " + problem.answer).utf8) ? 1 : 0
    }
}
