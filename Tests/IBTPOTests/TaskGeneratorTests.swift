import XCTest
@testable import IBTPO

/// Determinism, split disjointness and reference-solution rewards of the built-in tasks.
final class TaskGeneratorTests: XCTestCase {
    /// Every built-in task at several difficulty settings.
    func configurations() throws -> [(String, any TrainingTask)] {
        var result: [(String, any TrainingTask)] = []
        for d in [1, 2, 3, 5, 8, 18] {
            result.append(("add digits=\(d)", try builtinTask(name: "add", options: ["digits": d], seed: 7)))
        }
        for n in 3...5 {
            result.append(("countdown numbers=\(n)", try builtinTask(name: "countdown", options: ["numbers": n], seed: 7)))
        }
        result.append(("countdown small", try builtinTask(name: "countdown", options: ["numbers": 3, "max_number": 4, "max_target": 10], seed: 7)))
        for (s, m) in [(1, 5), (2, 7), (4, 11), (8, 97), (16, 13)] {
            result.append(("modchain steps=\(s) mod=\(m)", try builtinTask(name: "modchain", options: ["steps": s, "mod": m], seed: 7)))
        }
        return result
    }

    func testSameSeedSameProblems() throws {
        var checked = 0
        for (label, task) in try configurations() {
            let again = try builtinTask(name: task.name, options: optionsOf(task), seed: 7)
            for split in Split.allCases {
                for i in [0, 1, 2, 17, 1000, -3, Int.max, Int.min] {
                    XCTAssertEqual(task.problem(split: split, index: i), again.problem(split: split, index: i), label)
                    XCTAssertEqual(task.problem(split: split, index: i), task.problem(split: split, index: i), label)
                    checked += 1
                }
            }
        }
        print("determinism: \(checked) (task, split, index) triples regenerated identically")
    }

    func testDifferentSeedsDiffer() throws {
        for name in ["add", "countdown", "modchain"] {
            let a = try builtinTask(name: name, seed: 1), b = try builtinTask(name: name, seed: 2)
            let pa = (0..<20).map { a.problem(split: .train, index: $0).prompt }
            let pb = (0..<20).map { b.problem(split: .train, index: $0).prompt }
            XCTAssertNotEqual(pa, pb, name)
            // Within one seed, indices give varied problems.
            XCTAssertGreaterThan(Set(pa).count, 10, name)
        }
        print("seeds: 3 tasks give different problem streams for seeds 1 and 2")
    }

    func testSplitsAreDisjoint() throws {
        var total = 0
        for (label, task) in try configurations() {
            let n = label.hasPrefix("add digits=1") || label.contains("small") || label.contains("steps=1 ") ? 300 : 1500
            var keys: [Split: Set<String>] = [.train: [], .test: []]
            for split in Split.allCases {
                for i in 0..<n {
                    let p = task.problem(split: split, index: i)
                    let key = splitKey(task.name, p)
                    XCTAssertEqual(SplitRule.split(ofKey: key), split, "\(label): \(p.prompt)")
                    keys[split, default: []].insert(key)
                    total += 1
                }
            }
            let overlap = keys[.train, default: []].intersection(keys[.test, default: []])
            XCTAssertTrue(overlap.isEmpty, "\(label): \(overlap.count) shared problems")
            XCTAssertFalse(keys[.test, default: []].isEmpty, label)
        }
        print("splits: \(total) problems generated, no key shared between train and test")
    }

    /// The smallest key spaces still have both splits populated, so generation always terminates.
    func testSmallestSpacesHaveBothSplits() {
        var addTest = 0, addTotal = 0
        for a in 0..<10 { for b in a..<10 {
            addTotal += 1
            if SplitRule.split(ofKey: AdditionTask.key(a, b)) == .test { addTest += 1 }
        } }
        XCTAssertGreaterThan(addTest, 0)
        XCTAssertLessThan(addTest, addTotal)
        var modTest = 0, modTotal = 0
        for v in 0..<5 { for op in ["+", "-", "*"] as [Character] { for k in 1..<5 {
            let p = ModChainTask.makeProblem(start: v, chain: [(op, k)], modulus: 5)
            modTotal += 1
            if SplitRule.split(ofKey: "modchain:" + p.prompt) == .test { modTest += 1 }
        } } }
        XCTAssertGreaterThan(modTest, 0)
        XCTAssertLessThan(modTest, modTotal)
        print("small spaces: add digits=1 has \(addTest)/\(addTotal) test keys, modchain steps=1 mod=5 has \(modTest)/\(modTotal)")
    }

    func testReferenceSolutionsGetFullReward() throws {
        var count = 0
        for (label, task) in try configurations() {
            for split in Split.allCases {
                for i in 0..<300 {
                    let p = task.problem(split: split, index: i)
                    XCTAssertEqual(task.reward(for: p, completion: p.solution), 1, "\(label): \(p.prompt)\(p.solution)")
                    XCTAssertEqual(task.reward(for: p, completion: p.solution + "\n"), 1, label)
                    XCTAssertTrue(p.prompt.hasSuffix("\n"), label)
                    XCTAssertTrue(p.solution.hasSuffix("\n" + AnswerLine.line(p.answer)), label)
                    XCTAssertFalse(p.solution.hasSuffix("\n"), label)
                    count += 1
                }
            }
        }
        print("reference solutions: \(count) problems across 15 configurations all get reward 1")
    }

    func testReferenceSolutionsAreCorrectAndShort() throws {
        let add = try AdditionTask(digits: 3, seed: 3)
        var longest = 0
        for i in 0..<500 {
            let p = add.problem(split: .train, index: i)
            let ops = p.prompt.dropLast().split(separator: "+").compactMap { Int($0) }
            XCTAssertEqual(ops.count, 2)
            XCTAssertEqual(String(ops.reduce(0, +)), p.answer)
            XCTAssertEqual(p.solution.split(separator: "\n").count, 4)
            longest = max(longest, (p.prompt + p.solution).utf8.count)
        }
        XCTAssertLessThanOrEqual(longest, 64)
        let cd = try CountdownTask(count: 5, seed: 3)
        for i in 0..<500 {
            let p = cd.problem(split: .test, index: i)
            guard let (numbers, target) = CountdownTask.parsePrompt(p.prompt) else { return XCTFail(p.prompt) }
            XCTAssertEqual(numbers.count, 5)
            XCTAssertTrue((1...999).contains(target))
            XCTAssertFalse(numbers.contains(target))
            XCTAssertEqual(p.solution.split(separator: "\n").count, 5)
            longest = max(longest, (p.prompt + p.solution).utf8.count)
        }
        let mc = try ModChainTask(steps: 8, modulus: 97, seed: 3)
        for i in 0..<500 { longest = max(longest, (mc.problem(split: .train, index: i).prompt + mc.problem(split: .train, index: i).solution).utf8.count) }
        XCTAssertLessThanOrEqual(longest, 200)
        print("reference texts: 1500 checked, longest prompt+solution \(longest) bytes")
    }

    func testRegistryErrors() {
        XCTAssertThrowsError(try builtinTask(name: "mul", seed: 0)) { e in
            XCTAssertEqual("\(e)", "unknown task 'mul'; built-in tasks are: add, countdown, modchain")
        }
        XCTAssertThrowsError(try builtinTask(name: "add", options: ["digit": 3], seed: 0)) { e in
            XCTAssertEqual("\(e)", "task 'add' has no option 'digit'; its options are: digits")
        }
        XCTAssertThrowsError(try builtinTask(name: "countdown", options: ["numbers": 6], seed: 0)) { e in
            XCTAssertEqual("\(e)", "task 'countdown': option 'numbers' = 6 is outside 3...5")
        }
        XCTAssertThrowsError(try builtinTask(name: "modchain", options: ["mod": 1], seed: 0))
        XCTAssertThrowsError(try builtinTask(name: "add", options: ["digits": 0], seed: 0))
        XCTAssertThrowsError(try AdditionTask(digits: 19, seed: 0))
        print("registry: 6 invalid configurations rejected with clear messages")
    }

    /// Prints one default-configured problem per task (the examples in docs/tasks.md).
    func testPrintExamples() throws {
        for name in ["add", "countdown", "modchain"] {
            let task = try builtinTask(name: name, seed: 0)
            let p = task.problem(split: .train, index: 0)
            XCTAssertEqual(task.reward(for: p, completion: p.solution), 1)
            print("example \(name): prompt=\(p.prompt.debugDescription) solution=\(p.solution.debugDescription) answer=\(p.answer.debugDescription)")
        }
    }

    // MARK: helpers

    func optionsOf(_ task: any TrainingTask) -> [String: Int] {
        switch task {
        case let t as AdditionTask: return ["digits": t.digits]
        case let t as CountdownTask: return ["numbers": t.count, "max_number": t.maxNumber, "max_target": t.maxTarget]
        case let t as ModChainTask: return ["steps": t.steps, "mod": t.modulus]
        default: return [:]
        }
    }

    func splitKey(_ task: String, _ p: Problem) -> String {
        switch task {
        case "add":
            let ops = p.prompt.dropLast().split(separator: "+").compactMap { Int($0) }
            return AdditionTask.key(ops.first ?? -1, ops.last ?? -1)
        case "countdown":
            let parsed = CountdownTask.parsePrompt(p.prompt)
            return CountdownTask.key(numbers: parsed?.numbers ?? [], target: parsed?.target ?? -1)
        default:
            return "modchain:" + p.prompt
        }
    }
}
