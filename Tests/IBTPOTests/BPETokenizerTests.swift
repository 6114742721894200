import Glibc
import XCTest
@testable import IBTPO

/// Byte-level BPE against Hugging Face `tokenizers` (Tests/fixtures/gguf/make_bpe.py wrote the
/// expected ids and decodings): a small tokenizer trained with SmolLM2's pipeline (committed),
/// and SmolLM2's own vocabulary when its GGUF file is there (FixturePaths.smolLM2).
final class BPETokenizerTests: XCTestCase {
    func check(gguf: String, cases: String) throws {
        let tok = try BPETokenizer(gguf: GGUFFile(path: gguf))
        let m = try MappedFile(path: cases)
        var n = 0, bad = 0
        for line in m.bytes.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let v = try JSONParser.parse(line)
            guard case .string(let text)? = v["text"], case .array(let want)? = v["ids"],
                  case .string(let decoded)? = v["decoded"] else { XCTFail("bad case line"); continue }
            let ids = want.compactMap { j -> Int32? in if case .number(let d) = j { return Int32(d) } else { return nil } }
            let got = tok.encode(text)
            n += 1
            if got != ids { bad += 1; XCTFail("encode \(text.debugDescription): got \(got), HF \(ids)") }
            XCTAssertEqual(tok.decode(got, keepSpecial: true), decoded, text.debugDescription)
        }
        print("\(gguf): \(n) texts, \(bad) encodings differ from HF tokenizers; vocab \(tok.vocabSize), "
            + "pre-tokenizer \(tok.preTokenizer)")
        XCTAssertGreaterThan(n, 10)
    }

    func testSmallTokenizerMatchesHF() throws {
        try check(gguf: GGUFTests.fixtures + "/bpe.gguf", cases: GGUFTests.fixtures + "/bpe_cases.jsonl")
    }

    func testSmolLM2MatchesHFWhenAvailable() throws {
        guard let p = FixturePaths.smolLM2 else {
            print("\(FixturePaths.noSmolLM2): SmolLM2 tokenizer check skipped")
            return
        }
        try check(gguf: p, cases: GGUFTests.fixtures + "/smollm2_cases.jsonl")
    }

    /// ≥ 10,000 strings (tools/fixtures/make_tokenizer_cases.py: every script, whitespace and
    /// digit kind, code, special tokens in text, invalid UTF-8 as bytes) through SmolLM2's
    /// vocabulary: ids identical to HF `tokenizers`, and decode(ids) == the text (or HF's decode).
    /// Invalid UTF-8 is decoded with U+FFFD replacement first, which must agree with Python's
    /// bytes.decode("utf-8", "replace") stored beside it.
    func testSmolLM2StressCasesMatchHF() throws {
        guard let p = FixturePaths.smolLM2 else {
            print("\(FixturePaths.noSmolLM2): SmolLM2 tokenizer stress cases skipped")
            return
        }
        let tok = try BPETokenizer(gguf: GGUFFile(path: p))
        let m = try MappedFile(path: GGUFTests.fixtures + "/smollm2_stress.jsonl")
        var n = 0, badIds = 0, badDecode = 0, badUTF8 = 0, invalid = 0, tokens = 0
        var first: String?
        for line in m.bytes.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let v = try JSONParser.parse(line)
            guard case .string(var text)? = v["t"], case .array(let want)? = v["i"] else { XCTFail("bad line \(n + 1)"); continue }
            n += 1
            if case .string(let hex)? = v["b"] {
                invalid += 1
                let bytes = Self.unhex(hex)
                let decoded = String(decoding: bytes, as: UTF8.self)
                if Array(decoded.unicodeScalars) != Array(text.unicodeScalars) {
                    badUTF8 += 1
                    first = first ?? "line \(n): bytes \(hex) decode to \(decoded.debugDescription), Python \(text.debugDescription)"
                }
                text = decoded
            }
            let ids = want.compactMap { j -> Int32? in if case .number(let d) = j { return Int32(d) } else { return nil } }
            let got = tok.encode(text)
            tokens += got.count
            if got != ids {
                badIds += 1
                first = first ?? "line \(n): encode \(text.debugDescription): got \(got), HF \(ids)"
            }
            var expect = text
            if case .string(let d)? = v["d"] { expect = d }
            if Array(tok.decode(got, keepSpecial: true).utf8) != Array(expect.utf8) {
                badDecode += 1
                first = first ?? "line \(n): decode of \(text.debugDescription) is \(tok.decode(got, keepSpecial: true).debugDescription)"
            }
        }
        print("SmolLM2 tokenizer stress: \(n) strings (\(invalid) invalid UTF-8), \(tokens) tokens; \(badIds) encodings differ "
            + "from HF, \(badDecode) decodings differ, \(badUTF8) U+FFFD decodings differ from Python's"
            + (first.map { "; first: \($0)" } ?? ""))
        XCTAssertGreaterThanOrEqual(n, 10_000)
        XCTAssertEqual(badIds, 0, first ?? "")
        XCTAssertEqual(badDecode, 0, first ?? "")
        XCTAssertEqual(badUTF8, 0, first ?? "")
    }

    static func unhex(_ s: String) -> [UInt8] {
        var out: [UInt8] = [], hi: UInt8? = nil
        for c in s.utf8 {
            let d: UInt8 = c >= 97 ? c - 87 : c - 48
            if let h = hi { out.append(h << 4 | d); hi = nil } else { hi = d }
        }
        return out
    }

    func testByteMapIsABijection() {
        XCTAssertEqual(Set(ByteMap.char).count, 256)
        for b in 0..<256 { XCTAssertEqual(ByteMap.byte[ByteMap.char[b]], UInt8(b)) }
    }

    func testUnsupportedTokenizerIsRefused() throws {
        // types.gguf has no tokenizer metadata.
        XCTAssertThrowsError(try BPETokenizer(gguf: GGUFFile(path: GGUFTests.typesPath))) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .notSupported)
        }
    }
}
