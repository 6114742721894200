import Glibc
import XCTest
@testable import IBTPO

/// Byte-level BPE against Hugging Face `tokenizers` (Tests/fixtures/gguf/make_bpe.py wrote the
/// expected ids and decodings): a small tokenizer trained with SmolLM2's pipeline (committed),
/// and SmolLM2's own vocabulary when IBTPO_TEST_GGUF points at its GGUF file.
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
        guard let p = getenv("IBTPO_TEST_GGUF") else {
            print("IBTPO_TEST_GGUF not set: SmolLM2 tokenizer check skipped")
            return
        }
        try check(gguf: String(cString: p), cases: GGUFTests.fixtures + "/smollm2_cases.jsonl")
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
