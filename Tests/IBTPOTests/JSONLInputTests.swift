import Glibc
import XCTest
@testable import IBTPO

/// JSONL input hardening (issue 12): only bounded regular files, no NUL in the strings that
/// cross the C API, and object keys compared by their exact scalars.
final class JSONLInputTests: XCTestCase {
    func tmpPath(_ name: String) -> String { "/tmp/ibtpo-jsonl-\(getpid())-\(name)" }

    func load(_ path: String) throws -> JSONLDataset {
        try JSONLDataset.load(path: path, maxTokens: 4096, tokenCount: { $0.utf8.count })
    }

    func parse(_ text: String) throws -> JSONLDataset {
        try JSONLDataset.parse(bytes: Array(text.utf8), file: "d.jsonl", maxTokens: 4096, tokenCount: { $0.utf8.count },
                               name: "d")
    }

    /// NFC "\u00e9" and NFD "e\u0301" are different keys (RFC 8259 compares names by code
    /// units); before, Swift's canonical equivalence made them a "duplicate key". An exact
    /// repeat is still refused.
    func testKeysAreComparedByExactScalars() throws {
        let v = try JSONParser.parse(#"{"\u00e9": 1, "e\u0301": 2, "caf\u00e9": "x"}"#)
        guard case let .object(o) = v else { return XCTFail("not an object") }
        XCTAssertEqual(o.count, 3)
        XCTAssertEqual(v["\u{e9}"], .number(1))
        XCTAssertEqual(v["e\u{301}"], .number(2))
        XCTAssertEqual(v["caf\u{e9}"], .string("x"))
        XCTAssertNil(v["cafe\u{301}"])
        print("NFC/NFD keys: \(o.count) members, é(NFC) = \(v["\u{e9}"]!), é(NFD) = \(v["e\u{301}"]!)")
        for dup in [#"{"\u00e9": 1, "\u00e9": 2}"#, #"{"e\u0301": 1, "e\u0301": 2}"#, #"{"a": 1, "\u0061": 2}"#] {
            XCTAssertThrowsError(try JSONParser.parse(dup), dup) { e in
                XCTAssertTrue("\(e)".contains("duplicate key"), "\(e)")
            }
        }
        // and in a dataset line: the two é keys are just other (ignored) fields
        let d = try parse(#"{"prompt": "p1", "answer": "1", "split": "train", "\u00e9": 1, "e\u0301": 2}"# + "\n"
            + #"{"prompt": "p2", "answer": "2", "split": "test"}"# + "\n")
        XCTAssertEqual(d.train.count + d.test.count, 2)
    }

    /// `\u0000` in prompt, answer or solution is refused with file:line (before, it loaded
    /// and ibtpo_task_get_problem returned the string cut at the NUL).
    func testNULIsRefusedWithFileAndLine() throws {
        let good = #"{"prompt": "q", "answer": "1", "split": "train"}"# + "\n" + #"{"prompt": "r", "answer": "2", "split": "test"}"#
        let bad: [(String, String)] = [
            ("prompt", #"{"prompt": "a\u0000b", "answer": "3"}"#),
            ("answer", #"{"prompt": "s", "answer": "3\u0000"}"#),
            ("solution", #"{"prompt": "t", "answer": "3", "solution": "\u0000answer: 3"}"#),
        ]
        XCTAssertNoThrow(try parse(good))
        for (field, line) in bad {
            XCTAssertThrowsError(try parse(good + "\n\n" + line + "\n"), field) { e in
                guard let e = e as? DatasetError else { return XCTFail("\(e)") }
                print(e)
                XCTAssertEqual(e.line, 4)
                XCTAssertTrue(e.description.hasPrefix("d.jsonl:4: field \"\(field)\" contains a NUL"), e.description)
            }
        }
        // a NUL in a field the dataset does not read is harmless
        XCTAssertNoThrow(try parse(good + "\n" + #"{"prompt": "u", "answer": "4", "note": "\u0000"}"#))
    }

    /// Only regular files are read: /dev/zero, /dev/urandom, a FIFO and a directory are refused
    /// at once (before: the devices were read until memory ran out and the FIFO blocked).
    func testOnlyRegularFilesAreRead() throws {
        let fifo = tmpPath("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        for (path, kind) in [("/dev/zero", "character device"), ("/dev/urandom", "character device"), (fifo, "FIFO"),
                             ("/tmp", "directory")] {
            XCTAssertThrowsError(try load(path), path) { e in
                guard let e = e as? DatasetError else { return XCTFail("\(e)") }
                print(e)
                XCTAssertNil(e.line)
                XCTAssertEqual(e.file, path)
                XCTAssertTrue(e.message.contains("not a regular file") && e.message.contains(kind), e.message)
            }
        }
    }

    /// A file above `maxFileBytes` (1 GiB; sparse here) is refused from its size.
    func testSizeIsBounded() throws {
        let path = tmpPath("big.jsonl")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(ftruncate(fd, off_t(JSONLDataset.maxFileBytes) + 1), 0)
        close(fd)
        defer { unlink(path) }
        XCTAssertThrowsError(try load(path)) { e in
            guard let e = e as? DatasetError else { return XCTFail("\(e)") }
            print(e)
            XCTAssertTrue(e.message.contains("more than the limit of \(JSONLDataset.maxFileBytes)"), e.message)
        }
    }
}
