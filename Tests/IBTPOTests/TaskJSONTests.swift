import XCTest
@testable import IBTPO

/// Edge cases of the hand-written JSON parser used by the dataset loader.
final class TaskJSONTests: XCTestCase {
    func testValidDocuments() throws {
        let cases: [(String, JSONValue)] = [
            ("null", .null), ("true", .bool(true)), (" false ", .bool(false)),
            ("0", .number(0)), ("-0", .number(-0.0)), ("123", .number(123)), ("-12.5e2", .number(-1250)),
            ("1E-2", .number(0.01)), ("1e+2", .number(100)), ("0.5", .number(0.5)),
            ("\"\"", .string("")), ("\"a\\\"b\\\\c\\/d\"", .string("a\"b\\c/d")),
            ("\"\\b\\f\\n\\r\\t\"", .string("\u{8}\u{c}\n\r\t")),
            ("\"\\u0041\\u00e9\\u4E2D\"", .string("Aé中")),
            ("\"\\ud83d\\ude00\"", .string("😀")), ("\"😀 héllo\"", .string("😀 héllo")),
            ("\"\\u0000\"", .string("\u{0}")),
            ("[]", .array([])), ("{}", .object([:])), ("[1,[2,[3]]]", .array([.number(1), .array([.number(2), .array([.number(3)])])])),
            ("\t\r\n{ \"a\" : [ true , null ] , \"b\":{\"c\":\"d\"} }\n", .object(["a": .array([.bool(true), .null]), "b": .object(["c": .string("d")])])),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try JSONParser.parse(text), expected, text)
        }
        let deep = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        XCTAssertNoThrow(try JSONParser.parse(deep))
        print("JSON: \(cases.count + 1) valid documents parsed to the expected values")
    }

    func testInvalidDocuments() {
        let cases: [(String, String)] = [
            ("", "unexpected end of input, expected a value"),
            ("   ", "unexpected end of input"),
            ("{", "expected a string key"),
            ("{\"a\":1", "unexpected end of input, expected ',' or '}'"),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\":1,}", "expected a string key"),
            ("{a:1}", "expected a string key"),
            ("{'a':1}", "expected a string key"),
            ("[1,]", "unexpected character ']'"),
            ("[1 2]", "expected ',' or ']'"),
            ("[", "unexpected end of input"),
            ("01", "leading zero"), ("-", "invalid number"), ("+1", "unexpected character '+'"),
            ("1.", "expected digits after '.'"), (".5", "unexpected character '.'"), ("1e", "exponent"),
            ("1e400", "number out of range"), ("NaN", "unexpected character 'N'"), ("Infinity", "unexpected character 'I'"),
            ("tru", "invalid literal"), ("nul", "invalid literal"), ("True", "unexpected character 'T'"),
            ("\"abc", "unterminated string"), ("\"a\\x\"", "invalid escape '\\x'"),
            ("\"\\u12G4\"", "invalid hex digit"), ("\"\\u12", "incomplete \\u escape"),
            ("\"\\ud83d\"", "high surrogate"), ("\"\\ud83dx\"", "high surrogate"), ("\"\\ud83d\\u0041\"", "high surrogate"),
            ("\"\\ude00\"", "lone low surrogate"),
            ("\"a\tb\"", "unescaped control character"), ("\"a\nb\"", "unescaped control character"),
            ("{\"a\":1,\"a\":2}", "duplicate key \"a\""),
            ("1 2", "unexpected text after"), ("{} x", "unexpected text after"),
            ("// c\n1", "unexpected character '/'"),
            (String(repeating: "[", count: JSONParser.maxDepth + 1), "nesting deeper than"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try JSONParser.parse(text), text.debugDescription) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(text.debugDescription): got \(e)")
            }
        }
        let badUTF8: [[UInt8]] = [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82]]
        for bytes in badUTF8 {
            XCTAssertThrowsError(try JSONParser.parse(bytes)) { e in
                XCTAssertEqual((e as? JSONParseError)?.message, "invalid UTF-8")
                XCTAssertEqual((e as? JSONParseError)?.offset, 1)
            }
        }
        print("JSON: \(cases.count + badUTF8.count) invalid documents rejected with the expected message")
    }

    func testErrorOffsets() {
        XCTAssertThrowsError(try JSONParser.parse("{\"a\": tru}")) { e in
            XCTAssertEqual(e as? JSONParseError, JSONParseError(offset: 6, message: "invalid literal (expected 'true')"))
            XCTAssertEqual("\(e)", "invalid literal (expected 'true') at byte 7")
        }
        print("JSON: error offsets are 0-based internally, 1-based in messages")
    }

    func testUTF8Validator() {
        let valid: [[UInt8]] = [[], Array("aé中😀".utf8), [0xF4, 0x8F, 0xBF, 0xBF], [0xEF, 0xBF, 0xBF]]
        let invalid: [([UInt8], Int)] = [
            ([0x80], 0), ([0x61, 0xC1, 0xBF], 1), ([0xE0, 0x9F, 0xBF], 0), ([0xF0, 0x8F, 0xBF, 0xBF], 0),
            ([0xF4, 0x90, 0x80, 0x80], 0), ([0xF5, 0x80, 0x80, 0x80], 0), ([0xED, 0xBF, 0xBF], 0),
            ([0x61, 0x62, 0xE2, 0x28, 0xA1], 2), ([0xF0, 0x9F, 0x98], 0),
        ]
        for v in valid { XCTAssertNil(UTF8Check.firstInvalidOffset(v), "\(v)") }
        for (bytes, offset) in invalid { XCTAssertEqual(UTF8Check.firstInvalidOffset(bytes), offset, "\(bytes)") }
        print("UTF-8: \(valid.count) valid and \(invalid.count) invalid sequences classified")
    }
}
