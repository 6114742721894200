import XCTest
@testable import IBTPO

/// Adversarial completions against the built-in verifiers. Each case states the policy it pins.
final class TaskVerifierTests: XCTestCase {
    func check(_ task: any TrainingTask, _ p: Problem, _ cases: [(String, Float, String)], file: StaticString = #filePath, line: UInt = #line) {
        for (completion, expected, why) in cases {
            XCTAssertEqual(task.reward(for: p, completion: completion), expected, "\(why): \(completion.debugDescription)", file: file, line: line)
        }
        print("\(task.name): \(cases.count) adversarial completions scored as documented")
    }

    func testAddition() throws {
        let task = try AdditionTask(digits: 3, seed: 0)
        let p = AdditionTask.makeProblem(347, 285, digits: 3)
        XCTAssertEqual(p.prompt, "347+285\n")
        XCTAssertEqual(p.solution, "7+5+0=12\n4+8+1=13\n3+2+1=6\nanswer: 632")
        let carryOut = AdditionTask.makeProblem(999, 1, digits: 3)
        XCTAssertEqual(carryOut.solution, "9+1+0=10\n9+0+1=10\n9+0+1=10\nanswer: 1000")
        check(task, p, [
            (p.solution, 1, "reference"),
            (p.solution + "\n", 1, "one trailing delimiter before EOS"),
            ("answer: 632", 1, "no steps: outcome-based"),
            ("7+5+0=99\nnonsense\nanswer: 632", 1, "right answer, wrong steps: outcome-based"),
            ("7+5+0=12\n4+8+1=13\n3+2+1=6\nanswer: 631", 0, "wrong answer"),
            (p.solution + "\n\n", 0, "two trailing delimiters"),
            (p.solution + "\nxyz", 0, "trailing garbage line"),
            (p.solution + " xyz", 0, "garbage on the answer line"),
            (p.solution + " ", 0, "trailing space"),
            ("answer: 0632", 0, "leading zero"),
            ("answer: +632", 0, "sign"),
            ("answer:632", 0, "no space after marker"),
            ("answer:  632", 0, "two spaces after marker"),
            ("Answer: 632", 0, "marker is case-sensitive"),
            ("answer: 632\nanswer: 632", 0, "answer line twice"),
            ("answer: 1\nanswer: 632", 0, "earlier answer line"),
            ("7+5+0=12\n4+8+1=13", 0, "truncated: no answer line"),
            ("", 0, "empty"),
            ("\n", 0, "only delimiter"),
            ("answer: ６３２", 0, "non-ASCII digits"),
            ("answer: 632\u{0}", 0, "NUL after answer"),
        ])
        let zero = AdditionTask.makeProblem(0, 0, digits: 2)
        check(task, zero, [("answer: 0", 1, "zero is canonical"), ("answer: 00", 0, "00 is not")])
    }

    func testCountdown() throws {
        let task = try CountdownTask(count: 4, seed: 0)
        let p = CountdownTask.makeProblem(numbers: [25, 7, 3, 10], target: 175, steps: ["25*7=175"])
        XCTAssertEqual(p.prompt, "make 175 from 3 7 10 25\n")
        let q = CountdownTask.makeProblem(numbers: [6, 4, 3], target: 2, steps: ["6/3=2"])
        let dup = CountdownTask.makeProblem(numbers: [5, 5, 2], target: 50, steps: ["5+5=10", "10*2=20"])
        check(task, p, [
            ("25*7=175\nanswer: 175", 1, "reference"),
            ("7*25=175\nanswer: 175\n", 1, "commuted operands, trailing delimiter"),
            ("10-3=7\n7*25=175\nanswer: 175", 1, "intermediate result used once (two 7s available)"),
            ("10+3=13\n25*7=175\nanswer: 175", 1, "extra legal step with unused numbers"),
            ("25*7=176\nanswer: 175", 0, "wrong arithmetic"),
            ("25*7=175\nanswer: 176", 0, "answer line does not state the target"),
            ("25*7=175\n175-3=172\nanswer: 175", 0, "last result is not the target"),
            ("25*7=175\nanswer: 0175", 0, "leading zero in answer"),
            ("25*7=175\nanswer: 175 ", 0, "trailing space"),
            ("25*7=175\nanswer: 175\nmore", 0, "trailing garbage"),
            ("answer: 175", 0, "no steps: target merely stated"),
            ("25*7=175\n175*1=175\nanswer: 175", 0, "1 is not given"),
            ("7*7=49\n49+126=175\nanswer: 175", 0, "reuse of 7, number not given"),
            ("10+3=13\n13+13=26\nanswer: 175", 0, "reuse of an intermediate"),
            ("25*7=175\n25*7=175\nanswer: 175", 0, "reuse of both numbers"),
            ("35*5=175\nanswer: 175", 0, "numbers not given (right target by illegal means)"),
            ("25/3=8\n8*22=176\nanswer: 175", 0, "division with remainder"),
            ("3-10=-7\nanswer: 175", 0, "negative result"),
            ("3-10=0\nanswer: 175", 0, "subtraction below zero is not clamped"),
            ("25 * 7 = 175\nanswer: 175", 0, "spaces are not allowed in steps"),
            ("25x7=175\nanswer: 175", 0, "unknown operator"),
            ("025*7=175\nanswer: 175", 0, "leading zero operand"),
            ("25*7=175=175\nanswer: 175", 0, "two equals signs"),
            ("25*7\nanswer: 175", 0, "no result"),
            ("\n25*7=175\nanswer: 175", 0, "empty step"),
            ("99999999999999999*99999999999999999=1\nanswer: 175", 0, "huge numbers do not trap"),
        ])
        check(task, q, [("6/3=2\nanswer: 2", 1, "exact division"), ("4/3=1\nanswer: 2", 0, "division with remainder")])
        check(task, dup, [
            ("5*5=25\n25*2=50\nanswer: 50", 1, "a duplicated given number may be used once per copy"),
            ("5*5=25\n5+5=10\nanswer: 50", 0, "a third 5 is not available"),
            ("5*5=25\n25*2=50\n50/5=10\nanswer: 50", 0, "5 used three times"),
        ])
        XCTAssertEqual(task.reward(for: Problem(prompt: "not a prompt", solution: "", answer: "1"), completion: "1+1=2\nanswer: 2"), 0)
        print("countdown: an unparsable prompt gives reward 0")
    }

    func testModChain() throws {
        let task = try ModChainTask(steps: 3, modulus: 11, seed: 0)
        let p = ModChainTask.makeProblem(start: 5, chain: [("+", 3), ("*", 4), ("-", 6)], modulus: 11)
        XCTAssertEqual(p.prompt, "5 +3 *4 -6 mod 11\n")
        XCTAssertEqual(p.solution, "5+3=8%11=8\n8*4=32%11=10\n10-6=4%11=4\nanswer: 4")
        let neg = ModChainTask.makeProblem(start: 2, chain: [("-", 7)], modulus: 11)
        XCTAssertEqual(neg.solution, "2-7=-5%11=6\nanswer: 6")
        check(task, p, [
            (p.solution, 1, "reference"),
            ("5+3=9%11=9\nanswer: 4", 1, "wrong steps, right answer: outcome-based"),
            ("5+3=8%11=8\n8*4=32%11=10\n10-6=4%11=4\nanswer: 5", 0, "wrong answer"),
            (p.solution + "\n4", 0, "trailing garbage"),
            ("answer: 04", 0, "leading zero"),
            ("answer: 15", 0, "not reduced"),
            ("answer: -7", 0, "negative representative"),
        ])
    }

    func testAnswerLineParsing() {
        XCTAssertNil(AnswerLine.parse("", delimiter: "\n"))
        XCTAssertEqual(AnswerLine.parse("x\n\nanswer: 1", delimiter: "\n\n")?.steps, ["x"])
        XCTAssertNil(AnswerLine.parse("x\nanswer: 1", delimiter: "\n\n"), "marker must start a step")
        let multi = AnswerLine.parse("a\n\nb\n\nanswer: 3\n\n", delimiter: "\n\n")
        XCTAssertEqual(multi?.steps, ["a", "b"])
        XCTAssertEqual(multi?.answer, " 3")
        XCTAssertEqual(AnswerLine.split("héllo→wörld→", on: "→"), ["héllo", "wörld", ""])
        XCTAssertEqual(AnswerLine.split("abc", on: ""), ["abc"])
        print("answer line: 7 parsing cases, including multi-byte delimiters")
    }
}
