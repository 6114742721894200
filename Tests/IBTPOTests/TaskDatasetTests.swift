import XCTest
import Glibc
@testable import IBTPO

/// The JSONL dataset loader: every bad-input case, splits, and the normalising verifier.
final class TaskDatasetTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/ibtpo-task-tests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buf -> Bool in
            guard let base = buf.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        XCTAssertTrue(made)
        dir = String(cString: template)
    }

    override func tearDown() {
        for name in written { unlink(dir + "/" + name) }
        rmdir(dir)
    }

    var written: [String] = []

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = dir + "/" + name
        let f = fopen(path, "wb")
        XCTAssertNotNil(f)
        if let f {
            _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
        }
        written.append(name)
        return path
    }

    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    func bytesCount(_ s: String) -> Int { s.utf8.count }

    func load(_ path: String, maxTokens: Int = 256) throws -> JSONLDataset {
        try JSONLDataset.load(path: path, maxTokens: maxTokens, tokenCount: bytesCount)
    }

    /// A valid body with both splits present.
    let base = """
        {"prompt": "1+1\\n", "answer": "2", "split": "train"}
        {"prompt": "2+2\\n", "answer": " 4 ", "solution": "2+2=4\\nanswer: 4", "split": "test"}
        """

    func testValidFile() throws {
        let text = "\u{FEFF}" + base + "\r\n\n   \n{\"prompt\":\"q\\u00e9\\n\",\"answer\":\"a  b\\nc\",\"extra\":[1,{\"x\":null}],\"solution\":null}\n"
        let path = write("ok.jsonl", text)
        let ds = try load(path)
        XCTAssertEqual(ds.name, "ok")
        XCTAssertEqual(ds.stepDelimiter, "\n")
        XCTAssertEqual(ds.problemCount(split: .test), 1)
        XCTAssertEqual(ds.test[0], Problem(prompt: "2+2\n", solution: "2+2=4\nanswer: 4", answer: "4"))
        XCTAssertEqual(ds.train[0], Problem(prompt: "1+1\n", solution: "answer: 2", answer: "2"))
        let third = ds.train.count == 2 ? ds.train[1] : ds.test[1]
        XCTAssertEqual(third, Problem(prompt: "qé\n", solution: "answer: a b c", answer: "a b c"))
        XCTAssertEqual(ds.problem(split: .train, index: ds.train.count), ds.train[0], "indices wrap")
        XCTAssertEqual(ds.problem(split: .test, index: -1), ds.test[ds.test.count - 1], "negative indices wrap")
        for s in Split.allCases {
            for p in s == .train ? ds.train : ds.test {
                XCTAssertEqual(ds.reward(for: p, completion: p.solution), 1)
            }
        }
        print("dataset: BOM, CRLF, blank lines, escapes, extra fields and null solution load as documented (3 problems)")
    }

    func testReward() throws {
        let ds = try load(write("r.jsonl", base))
        let p = Problem(prompt: "x\n", solution: "answer: New  York", answer: "New York")
        let cases: [(String, Float)] = [
            ("answer: New York", 1), ("answer:New York", 1), ("answer:   New \t York  ", 1),
            ("step\nanswer: New York\n", 1), ("answer: new york", 0), ("answer: NewYork", 0),
            ("answer: New York\nmore", 0), ("answer: New York\n\n", 0), ("New York", 0), ("answer: x\nanswer: New York", 0),
        ]
        for (completion, expected) in cases {
            XCTAssertEqual(ds.reward(for: p, completion: completion), expected, completion.debugDescription)
        }
        XCTAssertEqual(JSONLDataset.normalize("  a \n\t b  "), "a b")
        XCTAssertEqual(JSONLDataset.normalize(" \u{00A0}\u{2003} "), "")
        print("dataset reward: \(cases.count) completions scored with whitespace normalisation")
    }

    func expectError(_ name: String, _ bytes: [UInt8], line: Int?, _ fragment: String, maxTokens: Int = 256,
                     file: StaticString = #filePath, lineNo: UInt = #line) {
        let path = write(name, bytes)
        XCTAssertThrowsError(try load(path, maxTokens: maxTokens), file: file, line: lineNo) { e in
            guard let e = e as? DatasetError else { return XCTFail("not a DatasetError: \(e)", file: file, line: lineNo) }
            XCTAssertEqual(e.file, path, file: file, line: lineNo)
            XCTAssertEqual(e.line, line, "\(e)", file: file, line: lineNo)
            XCTAssertTrue(e.message.contains(fragment), "\(e)", file: file, line: lineNo)
            XCTAssertTrue("\(e)".hasPrefix(path + (line.map { ":\($0): " } ?? ": ")), "\(e)", file: file, line: lineNo)
            print("  rejected: \(e)")
        }
    }

    func expectError(_ name: String, _ text: String, line: Int?, _ fragment: String, maxTokens: Int = 256,
                     file: StaticString = #filePath, lineNo: UInt = #line) {
        expectError(name, Array(text.utf8), line: line, fragment, maxTokens: maxTokens, file: file, lineNo: lineNo)
    }

    func testBadInputs() {
        let b = base + "\n\n"   // lines 1-2 valid, line 3 blank, line 4 is the bad one
        var n = 0
        func bad(_ line4: String, _ fragment: String, maxTokens: Int = 256) {
            n += 1
            expectError("bad\(n).jsonl", b + line4 + "\n", line: 4, fragment, maxTokens: maxTokens)
        }
        bad("{\"prompt\": \"x\", \"answer\": \"1\"", "invalid JSON: unexpected end of input")
        bad("{\"prompt\": \"x\", \"answer\": 1,}", "invalid JSON: expected a string key")
        bad("hello", "invalid JSON: unexpected character 'h', expected a value at column 1")
        bad("nothing", "invalid JSON: invalid literal (expected 'null') at column 1")
        bad("[\"prompt\", \"answer\"]", "expected a JSON object, got array")
        bad("\"just a string\"", "expected a JSON object, got string")
        bad("{\"answer\": \"1\"}", "missing field \"prompt\"")
        bad("{\"prompt\": \"x\"}", "missing field \"answer\"")
        bad("{\"prompt\": 5, \"answer\": \"1\"}", "field \"prompt\" must be a string, got number")
        bad("{\"prompt\": \"x\", \"answer\": 1}", "field \"answer\" must be a string, got number")
        bad("{\"prompt\": null, \"answer\": \"1\"}", "field \"prompt\" must be a string, got null")
        bad("{\"prompt\": \"x\", \"answer\": \"1\", \"solution\": [\"a\"]}", "field \"solution\" must be a string, got array")
        bad("{\"prompt\": \"\", \"answer\": \"1\"}", "field \"prompt\" is empty")
        bad("{\"prompt\": \"x\", \"answer\": \" \\n \"}", "field \"answer\" is empty or only whitespace")
        bad("{\"prompt\": \"x\", \"answer\": \"1\", \"solution\": \"1\\nanswer: 2\"}", "field \"solution\" must end with a line")
        bad("{\"prompt\": \"x\", \"answer\": \"1\", \"solution\": \"answer: 1\\nextra\"}", "field \"solution\" must end with a line")
        bad("{\"prompt\": \"x\", \"answer\": \"1\", \"split\": \"dev\"}", "field \"split\" must be \"train\" or \"test\", got \"dev\"")
        bad("{\"prompt\": \"x\", \"answer\": \"1\", \"split\": 1}", "field \"split\" must be \"train\" or \"test\", got number")
        bad("{\"prompt\": \"x\", \"answer\": \"1\", \"prompt\": \"y\"}", "duplicate key \"prompt\"")
        bad("{\"prompt\": \"1+1\\n\", \"answer\": \"2\", \"split\": \"test\"}", "the same prompt is in the train split at line 1")
        bad("{\"prompt\": \"0123456789\", \"answer\": \"12345\"}", "prompt + answer line is 23 tokens, longer than the model's context of 22", maxTokens: 22)
        bad("{\"prompt\": \"0123456789\", \"answer\": \"1\", \"solution\": \"9+1=10\\nanswer: 1\"}", "prompt + solution is 26 tokens, longer than the model's context of 25", maxTokens: 25)
        n += 1
        expectError("utf8.jsonl", Array(b.utf8) + [0x7B, 0x22, 0x70, 0xFF, 0x22, 0x7D, 0x0A], line: 4, "invalid UTF-8 at byte 4 of the line")
        n += 1
        expectError("utf8b.jsonl", Array(b.utf8) + Array("{\"prompt\": \"\u{E9}".utf8).dropLast() + [0x22, 0x7D], line: 4, "invalid UTF-8")
        n += 1
        expectError("empty.jsonl", "\n  \n", line: nil, "no problems")
        n += 1
        expectError("notest.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\", \"split\": \"train\"}", line: nil, "the test split is empty")
        n += 1
        expectError("notrain.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\", \"split\": \"test\"}", line: nil, "the train split is empty")
        n += 1
        XCTAssertThrowsError(try JSONLDataset.load(path: dir + "/missing.jsonl", maxTokens: 10, tokenCount: bytesCount)) { e in
            XCTAssertEqual("\(e)", dir + "/missing.jsonl: cannot read file: No such file or directory")
        }
        n += 1
        XCTAssertThrowsError(try JSONLDataset.load(path: dir, maxTokens: 10, tokenCount: bytesCount)) { e in
            XCTAssertEqual("\(e)", dir + ": cannot read file: it is a directory, not a regular file")
        }
        n += 1
        XCTAssertThrowsError(try JSONLDataset.load(path: write("ok2.jsonl", base), maxTokens: 0, tokenCount: bytesCount)) { e in
            XCTAssertTrue("\(e)".contains("maxTokens must be positive"))
        }
        print("dataset: \(n) bad inputs rejected with file, line and reason")
    }

    func testErrorOnLastLineLoadsNothing() {
        // 200 valid lines, then one bad one: nothing is returned.
        var text = ""
        for i in 0..<200 { text += "{\"prompt\": \"p\(i)\\n\", \"answer\": \"\(i)\"}\n" }
        text += "{\"prompt\": \"p\\n\"}\n"
        expectError("late.jsonl", text, line: 201, "missing field \"answer\"")
        print("dataset: an error on line 201 after 200 good lines throws and yields no dataset")
    }

    func testHashSplitIsDeterministicAndDisjoint() throws {
        var text = ""
        for i in 0..<1000 { text += "{\"prompt\": \"question \(i % 700)\\n\", \"answer\": \"\(i % 700)\"}\n" }
        let path = write("many.jsonl", text)
        let a = try load(path), b = try load(path)
        XCTAssertEqual(a.train, b.train)
        XCTAssertEqual(a.test, b.test)
        XCTAssertEqual(a.train.count + a.test.count, 1000)
        let trainPrompts = Set(a.train.map { $0.prompt }), testPrompts = Set(a.test.map { $0.prompt })
        XCTAssertTrue(trainPrompts.isDisjoint(with: testPrompts))
        XCTAssertTrue((40...160).contains(a.test.count), "about 10% test, got \(a.test.count)")
        for p in a.test { XCTAssertEqual(SplitRule.split(ofKey: p.prompt), .test) }
        print("dataset split: 1000 lines (300 duplicated prompts) -> \(a.train.count) train / \(a.test.count) test, disjoint, reproducible")
    }

    func testOtherDelimiter() throws {
        let text = """
            {"prompt": "q\\n\\n", "answer": "7", "solution": "a\\nb\\n\\nanswer: 7", "split": "train"}
            {"prompt": "r\\n\\n", "answer": "8", "split": "test"}
            """
        let ds = try JSONLDataset.load(path: write("para.jsonl", text), maxTokens: 100, tokenCount: bytesCount,
                                       name: "para", stepDelimiter: "\n\n")
        XCTAssertEqual(ds.reward(for: ds.train[0], completion: "x\n\nanswer: 7"), 1)
        XCTAssertEqual(ds.reward(for: ds.train[0], completion: "x\nanswer: 7"), 0)
        let path = write("para2.jsonl", "{\"prompt\": \"q\", \"answer\": \"1\", \"solution\": \"x\\nanswer: 1\"}")
        XCTAssertThrowsError(try JSONLDataset.load(path: path, maxTokens: 100, tokenCount: bytesCount, stepDelimiter: "\n\n")) { e in
            XCTAssertEqual("\(e)", path + ":1: field \"solution\" must end with a step (after the step delimiter \"\\n\\n\") "
                + "\"answer: <answer>\" whose answer matches field \"answer\"")
        }
        print("dataset: a custom step delimiter (\"\\n\\n\") governs the answer line")
    }
}
