import Foundation
import XCTest
@testable import IBTPO

/// Byte-level BPE read from Hugging Face tokenizer.json files against HF `tokenizers` itself:
/// four tiny tokenizers in the GPT-2, SmolLM2, Llama 3 and Qwen2 forms and 1,300 hard strings
/// (tools/fixtures/make_hf_tokenizers.py wrote the ids and decodings), the special tokens and
/// chat template of tokenizer_config.json, and the refusal of every form libibtpo does not read.
final class HFTokenizerTests: XCTestCase {
    static let names = ["gpt2", "smollm", "llama3", "qwen2"]
    static func dir(_ name: String) -> String { HFFixtures.dir + "/tokenizers/" + name }

    func testEncodeAndDecodeMatchTokenizers() throws {
        var toks: [String: BPETokenizer] = [:]
        for n in Self.names { toks[n] = try BPETokenizer(hfTokenizerAt: Self.dir(n)) }
        let m = try MappedFile(path: HFFixtures.dir + "/tokenizer_cases.jsonl")
        let lines = withExtendedLifetime(m) { m.bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) } }
        var cases = 0, tokens = 0, badIDs: [String: Int] = [:], badDecode = 0, first: String?
        for line in lines where !line.isEmpty {
            let v = try JSONParser.parse(line)
            let text = try XCTUnwrap(v["t"]?.string)
            cases += 1
            for n in Self.names {
                let tok = try XCTUnwrap(toks[n])
                let want = try XCTUnwrap(v["i"]?[n]?.array).compactMap { $0.int.map(Int32.init) }
                let got = tok.encode(text)
                tokens += got.count
                if got != want {
                    badIDs[n, default: 0] += 1
                    first = first ?? "\(n): encode \(text.debugDescription): got \(got), tokenizers \(want)"
                }
                let d = v["d"]?[n]?.string ?? text, s = v["s"]?[n]?.string ?? text
                if Array(tok.decode(want, keepSpecial: true).utf8) != Array(d.utf8) || Array(tok.decode(want).utf8) != Array(s.utf8) {
                    badDecode += 1
                    first = first ?? "\(n): decode of \(text.debugDescription): \(tok.decode(want, keepSpecial: true).debugDescription), "
                        + "tokenizers \(d.debugDescription)"
                }
            }
        }
        let bad = badIDs.values.reduce(0, +)
        print("HF tokenizer.json (gpt2, smollm, llama3, qwen2) vs tokenizers: \(cases) strings × 4, \(tokens) tokens; "
            + "\(bad) encodings differ \(badIDs), \(badDecode) decodings differ" + (first.map { "; first: \($0)" } ?? ""))
        XCTAssertGreaterThanOrEqual(cases, 1000)
        XCTAssertEqual(bad, 0, first ?? "")
        XCTAssertEqual(badDecode, 0, first ?? "")
    }

    func testSpecialTokensAndTemplate() throws {
        let g = try BPETokenizer(hfTokenizerAt: Self.dir("gpt2"))
        XCTAssertEqual(g.preTokenizer, "gpt2")
        XCTAssertEqual(g.bos, g.eos)
        XCTAssertFalse(g.addsBOS)
        XCTAssertEqual(g.id(of: "<tool_call>"), 420)
        // a non-special added token survives decode without specials; a special one does not
        XCTAssertEqual(g.decode(g.encode("a<tool_call>b<|endoftext|>")), "a<tool_call>b")

        let s = try BPETokenizer(hfTokenizerAt: Self.dir("smollm"))
        XCTAssertEqual(s.preTokenizer, "smollm")
        XCTAssertEqual([s.bos, s.eos, s.pad], [1, 2, 2])

        let l = try BPETokenizer(hfTokenizerAt: Self.dir("llama3"))
        XCTAssertEqual(l.preTokenizer, "llama-bpe")
        XCTAssertTrue(l.ignoreMerges)
        XCTAssertTrue(l.addsBOS, "the TemplateProcessing post-processor puts BOS first")
        XCTAssertEqual(l.bos, l.id(of: "<|begin_of_text|>"))
        XCTAssertEqual(l.eos, l.id(of: "<|eot_id|>"), "eos_token given as an AddedToken object")
        let lc = try HFTokenizerConfig(directory: Self.dir("llama3"))
        XCTAssertEqual(lc.chatTemplate?.hasPrefix("{{ bos_token }}"), true, "the 'default' template of the list")
        XCTAssertEqual(lc.eosToken, "<|eot_id|>")

        let q = try BPETokenizer(hfTokenizerAt: Self.dir("qwen2"))
        XCTAssertEqual(q.preTokenizer, "qwen2")
        XCTAssertTrue(q.nfc)
        XCTAssertEqual(q.eos, q.id(of: "<|im_end|>"))
        XCTAssertEqual(q.pad, q.id(of: "<|endoftext|>"))
        XCTAssertEqual(q.bos, q.eos, "no bos_token and no config.json: EOS stands in")
        XCTAssertEqual(q.encode("e\u{301}"), q.encode("\u{e9}"), "NFC first")
        let qc = try HFTokenizerConfig(directory: Self.dir("qwen2"))
        XCTAssertNil(qc.bosToken)
        // chat_template.jinja takes precedence over tokenizer_config.json's template
        let t = ScratchDir()
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: Self.dir("smollm") + "/" + f, toPath: t.path + "/" + f)
        }
        t.write("chat_template.jinja", "{{ messages }}")
        XCTAssertEqual(try HFTokenizerConfig(directory: t.path).chatTemplate, "{{ messages }}")
        // config.json's ids are the fallback for a missing bos_token
        let cfg = try JSONParser.parse("{\"bos_token_id\": 0, \"eos_token_id\": [2, 1]}")
        let q2 = try BPETokenizer(tokenizerJSON: try HFDirectory.readJSON(Self.dir("qwen2") + "/tokenizer.json", maxBytes: 1 << 24),
                                  config: qc, modelConfig: cfg, source: "qwen2")
        XCTAssertEqual(q2.bos, 0)
        XCTAssertEqual(q2.eos, q.eos, "tokenizer_config's eos_token wins over config.json's")
    }

    /// Each form libibtpo does not read, made by editing the GPT-2 fixture: the status, and a
    /// message that names the file and the reason.
    func testUnsupportedFormsAreRefused() throws {
        let base = try String(contentsOfFile: Self.dir("gpt2") + "/tokenizer.json", encoding: .utf8)
        let byteLevel = "\"pre_tokenizer\": {\n  \"type\": \"ByteLevel\",\n  \"add_prefix_space\": false,\n  \"trim_offsets\": true,\n  \"use_regex\": true\n }"
        XCTAssertTrue(base.contains(byteLevel), "fixture layout changed")
        func pre(_ json: String) -> (String, String) { (byteLevel, "\"pre_tokenizer\": " + json) }
        let split = { (r: String) in "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \(r)}, "
            + "\"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}" }
        let cases: [(String, (String, String), Status, String)] = [
            ("Unigram", ("\"type\": \"BPE\"", "\"type\": \"Unigram\""), .notSupported, "'Unigram'"),
            ("WordPiece", ("\"type\": \"BPE\"", "\"type\": \"WordPiece\""), .notSupported, "'WordPiece'"),
            ("byte_fallback", ("\"byte_fallback\": false", "\"byte_fallback\": true"), .notSupported, "SentencePiece"),
            ("dropout", ("\"dropout\": null", "\"dropout\": 0.1"), .notSupported, "dropout"),
            ("subword prefix", ("\"continuing_subword_prefix\": null", "\"continuing_subword_prefix\": \"##\""), .notSupported, "##"),
            ("Metaspace", pre("{\"type\": \"Metaspace\", \"replacement\": \"▁\"}"), .notSupported, "SentencePiece"),
            ("prefix space", pre("{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true}"), .notSupported, "add_prefix_space"),
            ("other regex", pre(split("\"\\\\w+|\\\\s+\"")), .notSupported, "\\\\w+"),
            ("string pattern", pre("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
                + "\"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}"),
             .notSupported, "plain-string"),
            ("Whitespace", pre("{\"type\": \"Whitespace\"}"), .notSupported, "Whitespace"),
            ("no pre-tokenizer", pre("null"), .notSupported, "no pre_tokenizer"),
            ("Lowercase", ("\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}"), .notSupported, "Lowercase"),
            ("Llama 2 normalizer", ("\"normalizer\": null", "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": "
                + "[{\"type\": \"Prepend\", \"prepend\": \"▁\"}, {\"type\": \"Replace\"}]}"), .notSupported, "SentencePiece"),
            ("Metaspace decoder", ("\"decoder\": {\n  \"type\": \"ByteLevel\"", "\"decoder\": {\n  \"type\": \"Metaspace\""), .notSupported, "SentencePiece"),
            ("lstrip", ("\"lstrip\": false", "\"lstrip\": true"), .notSupported, "lstrip"),
            ("bad merge", ("\"Ġ Ġ\"", "\"Ġ Ġ Ġ\""), .badData, "merge 0"),
            ("merge out of the vocabulary", ("\"Ġ Ġ\"", "\"Ġ zzzz\""), .badData, "'zzzz'"),
            ("duplicate id", ("\"!\": 1,", "\"!\": 2,"), .badData, "id 2"),
        ]
        var refused = 0
        for (what, (from, to), status, needle) in cases {
            XCTAssertTrue(base.contains(from), "\(what): '\(from)' not in the fixture")
            let text = base.replacingOccurrences(of: from, with: to)
            let json = try JSONParser.parse(text)
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: json, source: "edited/tokenizer.json"), what) { e in
                guard let e = e as? IBTPOError else { return XCTFail("\(what): \(e)") }
                refused += 1
                XCTAssertEqual(e.status, status, "\(what): \(e)")
                XCTAssertTrue(e.message.hasPrefix("edited/tokenizer.json: "), "\(what): \(e)")
                XCTAssertTrue(e.message.contains(needle), "\(what): '\(needle)' not in \(e.message)")
            }
        }
        print("tokenizer.json refusals: \(refused) of \(cases.count) edited files refused")
        // An eos_token that is no token, and a directory without tokenizer.json.
        var cfg = HFTokenizerConfig()
        cfg.eosToken = "<|nope|>"
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: try JSONParser.parse(base), config: cfg, source: "x")) {
            XCTAssertEqual(($0 as? IBTPOError)?.status, .badData)
        }
        let t = ScratchDir()
        t.write("vocab.json", "{}")
        XCTAssertThrowsError(try BPETokenizer(hfTokenizerAt: t.path)) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .notSupported)
            XCTAssertTrue((e as? IBTPOError)?.message.contains("vocab.json") == true)
        }
        XCTAssertThrowsError(try HFTokenizerConfig(json: JSONParser.parse("{\"bos_token\": 3}"), source: "c")) {
            XCTAssertEqual(($0 as? IBTPOError)?.message.contains("bos_token"), true)
        }
    }
}
