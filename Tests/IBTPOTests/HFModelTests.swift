import Foundation
import XCTest
@testable import IBTPO

/// Hugging Face model directories: `ModelConfig(hfConfig:)` on config.json variants and its
/// refusals; `Model.loadWeights(fromHF:)` on directories built here (every value checked at
/// its parameter offset, every refusal leaving the model untouched); and, when the pretrained
/// fixtures of tools/fixtures/make_models.py are there, each HF directory against the GGUF of
/// the same model (the same config, bit-identical float32 parameters, the same tokenizer
/// ids as HF `tokenizers`) and against transformers' float64 log-probs. With
/// IBTPO_TEST_HF_DIR (SmolLM2 saved by transformers) and IBTPO_TEST_GGUF (its GGUF), the two
/// loads of the real model are compared too.
final class HFModelTests: XCTestCase {
    static let llama = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 12, "vocab_size": 11,
         "max_position_embeddings": 32, "rope_theta": 10000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": false,
         "head_dim": 6, "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "rope_scaling": null,
         "torch_dtype": "float32", "pretraining_tp": 1, "bos_token_id": 1, "eos_token_id": 2}
        """
    static let qwen2 = """
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 8, "num_hidden_layers": 1,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 12, "vocab_size": 11,
         "max_position_embeddings": 100000, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "tie_word_embeddings": true,
         "hidden_act": "silu", "use_sliding_window": false, "sliding_window": 4096, "max_window_layers": 21}
        """

    func config(_ text: String, maxSeq: Int? = nil) throws -> ModelConfig {
        try ModelConfig(hfConfig: JSONParser.parse(text), source: "cfg/config.json", maxSeq: maxSeq)
    }

    func testConfigFields() throws {
        let l = try config(Self.llama)
        XCTAssertEqual(l, ModelConfig(vocab: 11, dModel: 8, nLayers: 2, nHeads: 2, nKVHeads: 1, dFF: 12, maxSeq: 32,
                                      ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: false, headDim: 6))
        XCTAssertEqual(try config(Self.llama, maxSeq: 16).maxSeq, 16)
        let q = try config(Self.qwen2)
        XCTAssertEqual(q, ModelConfig(vocab: 11, dModel: 8, nLayers: 1, nHeads: 4, nKVHeads: 2, dFF: 12, maxSeq: 65536,
                                      ropeTheta: 1e6, normEps: 1e-6, tieEmbeddings: true, headDim: 2, attentionBias: true))
        // Defaults: no head_dim, kv heads, theta, eps, tie or architectures.
        let minimal = try config("{\"model_type\": \"llama\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
            + "\"intermediate_size\": 4, \"vocab_size\": 5, \"head_dim\": null}")
        XCTAssertEqual(minimal, ModelConfig(vocab: 5, dModel: 8, nLayers: 1, nHeads: 2, nKVHeads: 2, dFF: 4, maxSeq: 2048,
                                            ropeTheta: 10000, normEps: 1e-6, tieEmbeddings: false))
        // rope_scaling llama3 (transformers 4) and rope_parameters (transformers 5) give the same config.
        let params = "\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192"
        let v4 = try config(Self.llama.replacingOccurrences(of: "\"rope_scaling\": null",
                                                            with: "\"rope_scaling\": {\"rope_type\": \"llama3\", \(params)}")
            .replacingOccurrences(of: "\"rope_theta\": 10000.0", with: "\"rope_theta\": 500000.0"))
        let v5 = try config(Self.llama.replacingOccurrences(of: "\"rope_scaling\": null,", with: "")
            .replacingOccurrences(of: "\"rope_theta\": 10000.0",
                                  with: "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \(params)}"))
        XCTAssertEqual(v4, v5)
        XCTAssertEqual(v4.ropeTheta, 500000)
        let want = try RopeScaling.llama3(.init(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192),
                                          headDim: 6, theta: 500000)
        XCTAssertEqual(v4.ropeScaling, want)
        XCTAssertEqual(v4.ropeScaling?.llama3?.originalMaxPositions, 8192)
        // The old key "type", and "default", mean what they say.
        XCTAssertNotNil(try config(Self.llama.replacingOccurrences(of: "\"rope_scaling\": null",
                                                                   with: "\"rope_scaling\": {\"type\": \"llama3\", \(params)}")).ropeScaling)
        XCTAssertNil(try config(Self.llama.replacingOccurrences(of: "\"rope_scaling\": null",
                                                                with: "\"rope_scaling\": {\"rope_type\": \"default\"}")).ropeScaling)
    }

    func testConfigRefusals() throws {
        let cases: [(String, String, String, Status, String)] = [
            ("architecture", "\"LlamaForCausalLM\"", "\"MistralForCausalLM\"", .notSupported, "'MistralForCausalLM'"),
            ("model_type", "\"model_type\": \"llama\"", "\"model_type\": \"gemma\"", .badData, "model_type"),
            ("activation", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", .notSupported, "'gelu'"),
            ("mlp bias", "\"mlp_bias\": false", "\"mlp_bias\": true", .notSupported, "mlp_bias"),
            ("rope type", "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", .notSupported, "'yarn'"),
            ("linear rope", "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}", .notSupported, "'linear'"),
            ("llama3 without factor", "\"rope_scaling\": null",
             "\"rope_scaling\": {\"rope_type\": \"llama3\", \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                + "\"original_max_position_embeddings\": 8192}", .badData, "factor"),
            ("llama3 bad factors", "\"rope_scaling\": null",
             "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0, \"high_freq_factor\": 1.0, "
                + "\"original_max_position_embeddings\": 8192}", .badData, "low_freq_factor"),
            ("rope_scaling not an object", "\"rope_scaling\": null", "\"rope_scaling\": 2", .badData, "rope_scaling"),
            ("partial rotary", "\"pretraining_tp\": 1", "\"partial_rotary_factor\": 0.5", .notSupported, "partial_rotary_factor"),
            ("quantised", "\"pretraining_tp\": 1", "\"quantization_config\": {\"quant_method\": \"gptq\"}", .notSupported, "quantization_config"),
            ("missing hidden_size", "\"hidden_size\": 8, ", "", .badData, "hidden_size is missing"),
            ("fractional", "\"intermediate_size\": 12", "\"intermediate_size\": 12.5", .badData, "intermediate_size"),
            ("string", "\"vocab_size\": 11", "\"vocab_size\": \"11\"", .badData, "vocab_size"),
            ("odd head_dim", "\"head_dim\": 6", "\"head_dim\": 5", .notSupported, "head_dim"),
            ("kv heads", "\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3", .notSupported, "n_kv_heads"),
            ("vocab too large", "\"vocab_size\": 11", "\"vocab_size\": 2000000", .notSupported, "vocab"),
            ("zero heads", "\"num_attention_heads\": 2", "\"num_attention_heads\": 0", .badData, "num_attention_heads"),
        ]
        for (what, from, to, status, needle) in cases {
            XCTAssertTrue(Self.llama.contains(from), what)
            XCTAssertThrowsError(try config(Self.llama.replacingOccurrences(of: from, with: to)), what) { e in
                guard let e = e as? IBTPOError else { return XCTFail("\(what): \(e)") }
                XCTAssertEqual(e.status, status, "\(what): \(e)")
                XCTAssertTrue(e.message.hasPrefix("cfg/config.json: "), "\(what): \(e)")
                XCTAssertTrue(e.message.contains(needle), "\(what): '\(needle)' not in \(e.message)")
            }
        }
        XCTAssertThrowsError(try config(Self.qwen2.replacingOccurrences(of: "\"use_sliding_window\": false",
                                                                         with: "\"use_sliding_window\": true"))) {
            XCTAssertEqual(($0 as? IBTPOError)?.status, .notSupported)
        }
        XCTAssertThrowsError(try config("[1]"))
        XCTAssertThrowsError(try config("{\"hidden_size\": 8}")) { XCTAssertEqual(($0 as? IBTPOError)?.status, .badData) }
    }

    // MARK: directories built here

    /// The HF names and shapes of a config's weights, in ParamLayout order, with each one's layout tensor.
    static func hfTensors(_ c: ModelConfig) -> [(hf: String, shape: [Int], layout: String)] {
        var out: [(String, [Int], String)] = [("model.embed_tokens.weight", [c.vocab, c.dModel], "tok_embeddings")]
        for l in 0..<c.nLayers {
            let p = "model.layers.\(l).", q = "layers.\(l)."
            out.append((p + "input_layernorm.weight", [c.dModel], q + "attention_norm"))
            out.append((p + "self_attn.q_proj.weight", [c.qDim, c.dModel], q + "attention.wq"))
            out.append((p + "self_attn.k_proj.weight", [c.kvDim, c.dModel], q + "attention.wk"))
            out.append((p + "self_attn.v_proj.weight", [c.kvDim, c.dModel], q + "attention.wv"))
            if c.attentionBias {
                out.append((p + "self_attn.q_proj.bias", [c.qDim], q + "attention.bq"))
                out.append((p + "self_attn.k_proj.bias", [c.kvDim], q + "attention.bk"))
                out.append((p + "self_attn.v_proj.bias", [c.kvDim], q + "attention.bv"))
            }
            out.append((p + "self_attn.o_proj.weight", [c.dModel, c.qDim], q + "attention.wo"))
            out.append((p + "post_attention_layernorm.weight", [c.dModel], q + "ffn_norm"))
            out.append((p + "mlp.gate_proj.weight", [c.dFF, c.dModel], q + "feed_forward.w_gate"))
            out.append((p + "mlp.up_proj.weight", [c.dFF, c.dModel], q + "feed_forward.w_up"))
            out.append((p + "mlp.down_proj.weight", [c.dModel, c.dFF], q + "feed_forward.w_down"))
        }
        out.append(("model.norm.weight", [c.dModel], "norm"))
        if !c.tieEmbeddings { out.append(("lm_head.weight", [c.vocab, c.dModel], "output")) }
        return out
    }

    /// A directory with `configText` and a model.safetensors of distinct values (tensor k,
    /// element i: k·1000 + i; norms stored as BF16, so their value is that float's top 16
    /// bits), optionally edited. Returns the directory and the expected value of each HF tensor.
    func makeDirectory(_ configText: String, edit: (inout SafeTensorsBuilder) -> Void = { _ in }) throws
        -> (ScratchDir, [String: [Float]]) {
        let c = try config(configText)
        var b = SafeTensorsBuilder()
        var want: [String: [Float]] = [:]
        for (k, t) in Self.hfTensors(c).enumerated() {
            let n = t.shape.reduce(1, *)
            let v = (0..<n).map { Float(k * 1000 + $0) }
            if t.hf.hasSuffix("layernorm.weight") || t.hf == "model.norm.weight" {
                let bits = v.map { UInt16($0.bitPattern >> 16) }
                b.bf16(t.hf, t.shape, bits)
                want[t.hf] = bits.map { Float(bitPattern: UInt32($0) << 16) }
            } else {
                b.f32(t.hf, t.shape, v)
                want[t.hf] = v
            }
        }
        edit(&b)
        let dir = ScratchDir("ibtpo-hf")
        dir.write("config.json", configText)
        dir.write("model.safetensors", b.bytes())
        return (dir, want)
    }

    func testLoadsEveryTensorAtItsOffset() throws {
        for (name, text) in [("llama (untied, GQA, head_dim 6)", Self.llama), ("qwen2 (tied, biases)", Self.qwen2)] {
            let (dir, want) = try makeDirectory(text) { b in
                // what transformers may leave in a file and ignores
                b.f32("model.layers.0.self_attn.rotary_emb.inv_freq", [3], [1, 0.1, 0.01])
                if text == Self.qwen2 { b.f32("lm_head.weight", [11, 8], [Float](repeating: -1, count: 88)) }
            }
            let hf = try HFDirectory(path: dir.path + "/")
            XCTAssertEqual(hf.path, dir.path)
            XCTAssertTrue(HFDirectory.isModelDirectory(dir.path))
            let c = try ModelConfig(hf: hf)
            let m = try Model(config: c, shape: TrainShape(batch: 1, seq: 4), threads: 1, seed: 1, initialize: false)
            try m.loadWeights(fromHF: hf)
            var checked = 0
            for t in Self.hfTensors(c) {
                let lt = try XCTUnwrap(m.layout.tensors.first { $0.name == t.layout }, t.layout)
                XCTAssertEqual(lt.shape, t.shape, t.hf)
                let w = try XCTUnwrap(want[t.hf])
                for i in 0..<lt.count where m.params[lt.offset + i].bitPattern != w[i].bitPattern {
                    XCTFail("\(name): \(t.hf)[\(i)] = \(m.params[lt.offset + i]), want \(w[i])"); break
                }
                checked += lt.count
            }
            XCTAssertEqual(checked, m.layout.parameterCount)
            print("\(name): \(checked) parameters loaded bit for bit at their layout offsets")
        }
    }

    func testWeightRefusalsLeaveTheModelUntouched() throws {
        let q = "model.layers.0.self_attn.q_proj.weight"
        let cases: [(String, (inout SafeTensorsBuilder) -> Void, Status, String)] = [
            ("missing", { b in b.entries.removeAll { $0.name == q } }, .badData, "\(q) is missing"),
            ("transposed", { b in
                if let i = b.entries.firstIndex(where: { $0.name == q }) { b.entries[i].shape = [8, 12] }
            }, .badData, "[8, 12]"),
            ("integer dtype", { b in
                if let i = b.entries.firstIndex(where: { $0.name == q }) { b.entries[i].dtype = "I32" }
            }, .notSupported, "I32"),
            ("a third layer", { b in b.f32("model.layers.2.mlp.up_proj.weight", [12, 8], [Float](repeating: 0, count: 96)) },
             .notSupported, "model.layers.2.mlp.up_proj.weight"),
            ("an o_proj bias", { b in b.f32("model.layers.0.self_attn.o_proj.bias", [8], [Float](repeating: 0, count: 8)) },
             .notSupported, "o_proj.bias"),
        ]
        for (what, edit, status, needle) in cases {
            let (dir, _) = try makeDirectory(Self.llama, edit: edit)
            let hf = try HFDirectory(path: dir.path)
            let m = try Model(config: try ModelConfig(hf: hf), shape: TrainShape(batch: 1, seq: 4), threads: 1, seed: 3)
            let before = Array(UnsafeBufferPointer(start: m.params, count: m.layout.count))
            XCTAssertThrowsError(try m.loadWeights(fromHF: hf), what) { e in
                guard let e = e as? IBTPOError else { return XCTFail("\(what): \(e)") }
                XCTAssertEqual(e.status, status, "\(what): \(e)")
                XCTAssertTrue(e.message.contains(dir.path), "\(what): \(e)")
                XCTAssertTrue(e.message.contains(needle), "\(what): '\(needle)' not in \(e.message)")
            }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: m.params, count: m.layout.count)), before, "\(what): parameters changed")
        }
        // A directory without safetensors, and one that is not a directory.
        let t = ScratchDir()
        t.write("config.json", Self.llama)
        t.write("pytorch_model.bin", [0])
        XCTAssertThrowsError(try HFDirectory(path: t.path)) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .notSupported)
            XCTAssertTrue((e as? IBTPOError)?.message.contains("pytorch_model.bin") == true)
        }
        XCTAssertThrowsError(try HFDirectory(path: t.path + "/config.json")) { XCTAssertEqual(($0 as? IBTPOError)?.status, .io) }
        XCTAssertFalse(HFDirectory.isModelDirectory(t.path + "/config.json"))
        t.write("config.json", "[]")
        XCTAssertThrowsError(try HFDirectory(path: t.path)) { XCTAssertEqual(($0 as? IBTPOError)?.status, .badData) }
    }

    /// A config.json that declares a model far larger than its safetensors, within the
    /// config's limits (200 layers, intermediate size 60,000: gigabytes of arena for a
    /// 300 KB directory), is refused by the tensor check, naming the file and the tensor,
    /// before any arena is sized from it.
    func testHugeDeclaredModelIsRefusedBeforeAllocation() throws {
        guard let root = HFFixtures.models else {
            print("pretrained fixtures (Tests/fixtures/models) not found: huge-config check skipped"); return
        }
        let src = root + "/llama_tied"
        let config = try String(contentsOfFile: src + "/config.json", encoding: .utf8)
        for (key, value, what) in [("num_hidden_layers", 200, "model.layers.2."), ("intermediate_size", 60_000, "gate_proj")] {
            let t = ScratchDir()
            for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
                _ = t.write(f, Array(try Data(contentsOf: URL(fileURLWithPath: src + "/" + f))))
            }
            let edited = config.replacingOccurrences(of: #""\#(key)": "#, with: #""\#(key)": \#(value), "old_\#(key)": "#)
            XCTAssertNotEqual(edited, config, key)
            _ = t.write("config.json", edited)
            XCTAssertThrowsError(try PretrainedModel.open(t.path, maxSeq: 64)) { e in
                let m = (e as? IBTPOError)?.message ?? "\(e)"
                print("\(key) = \(value): \(m)")
                XCTAssertEqual((e as? IBTPOError)?.status, .badData)
                XCTAssertTrue(m.contains(t.path) && m.contains(what), m)
            }
        }
    }

    // MARK: the pretrained fixtures (tools/fixtures/make_models.py)

    struct Ref {
        var gguf = "", logprobs = "", vocab = 0
        var sequences: [(ids: [Int32], offset: Int)] = []
        var texts: [(text: String, ids: [Int32])] = []

        init(_ dir: String, _ name: String) throws {
            let v = try HFDirectory.readJSON(dir + "/\(name).ref.json", maxBytes: 1 << 26)
            gguf = v["gguf"]?.string ?? ""
            logprobs = v["logprobs"]?["file"]?.string ?? ""
            vocab = v["vocab"]?.int ?? 0
            func ids(_ j: JSONValue?) -> [Int32] { (j?.array ?? []).compactMap { $0.int.map(Int32.init) } }
            for s in v["sequences"]?.array ?? [] { sequences.append((ids(s["ids"]), s["offset"]?.int ?? 0)) }
            for key in ["texts", "chats"] {
                for t in v[key]?.array ?? [] { if let s = t["text"]?.string { texts.append((s, ids(t["ids"]))) } }
            }
        }
    }

    /// Each fixture HF directory against the GGUF of the same model: equal configs (RoPE
    /// factors to float rounding), bit-identical float32 parameters, and log-probs of the model
    /// loaded from the directory against transformers' float64 ones.
    func testFixtureDirectoriesMatchTheirGGUFAndTransformers() throws {
        guard let root = HFFixtures.models else {
            print("pretrained fixtures (Tests/fixtures/models) not found: HF-vs-GGUF check skipped"); return
        }
        let manifest = try HFDirectory.readJSON(root + "/manifest.json", maxBytes: 1 << 20)
        var models = 0, params = 0, worst = Worst("fixture log-probs from HF directories vs transformers float64 (abs)")
        var ropeWorst = Worst("llama3 RoPE factors, config.json vs GGUF rope_freqs (rel)")
        for e in manifest["models"]?.array ?? [] {
            guard let name = e["name"]?.string, let hfName = e["hf_dir"]?.string else { continue }
            let hf = try HFDirectory(path: root + "/" + hfName)
            let r = try Ref(root, name)
            let g = try GGUFFile(path: root + "/" + r.gguf)
            let maxLen = r.sequences.map(\.ids.count).max() ?? 1
            var ch = try ModelConfig(hf: hf, maxSeq: 64)
            let cg = try ModelConfig(gguf: g, maxSeq: 64)
            if let a = ch.ropeScaling, let b = cg.ropeScaling {
                XCTAssertEqual(a.factors.count, b.factors.count)
                for (i, (x, y)) in zip(a.factors, b.factors).enumerated() { ropeWorst.rel(Double(x), Double(y), floor: 1e-30, "\(name) \(i)") }
                ch.ropeScaling = cg.ropeScaling
            }
            XCTAssertEqual(ch, cg, "\(name): config.json and GGUF metadata differ")
            let shape = TrainShape(batch: 1, seq: maxLen)
            let mh = try Model(config: ch, shape: shape, threads: 2, seed: 1, initialize: false)
            let mg = try Model(config: cg, shape: shape, threads: 2, seed: 1, initialize: false)
            try mh.loadWeights(fromHF: hf)
            try mg.loadWeights(from: g)
            var differ = 0
            for t in mh.layout.tensors {
                for i in 0..<t.count where mh.params[t.offset + i].bitPattern != mg.params[t.offset + i].bitPattern { differ += 1 }
            }
            XCTAssertEqual(differ, 0, "\(name): \(differ) parameters differ between the HF directory and the GGUF")
            params += mh.layout.parameterCount
            models += 1
            // Log-probs of the HF-loaded model against transformers.
            let ref = try MappedFile(path: root + "/" + r.logprobs)
            let V = ch.vocab
            try withExtendedLifetime(ref) {
                try ref.bytes.withMemoryRebound(to: Float.self) { want in
                    for (s, seq) in r.sequences.enumerated() {
                        try mh.setPass(batch: 1, seq: seq.ids.count)
                        for (t, id) in seq.ids.enumerated() { mh.tokens[t] = id; mh.targets[t] = -1; mh.coef[t] = 0 }
                        mh.forward()
                        for t in 0..<seq.ids.count {
                            let lg = mh.logits + t * V
                            var mx = -Double.infinity, sum = 0.0
                            for v in 0..<V { mx = max(mx, Double(lg[v])) }
                            for v in 0..<V { sum += exp(Double(lg[v]) - mx) }
                            let lse = mx + log(sum)
                            for v in 0..<V {
                                worst.see(Double(lg[v]) - lse, Double(want[seq.offset + t * V + v]), denom: 1, "\(name) seq \(s) t \(t) v \(v)")
                            }
                        }
                    }
                }
            }
        }
        print("HF directories vs GGUF: \(models) fixture models, \(params) parameters, all bit-identical; \(ropeWorst); \(worst)")
        XCTAssertGreaterThan(models, 0)
        XCTAssertLessThanOrEqual(ropeWorst.err, 1e-6)
        XCTAssertLessThanOrEqual(worst.err, 2e-4)
    }

    /// Each fixture's tokenizer.json against its GGUF tokenizer and HF's ids for the
    /// fixture's texts and rendered chats.
    func testFixtureTokenizersMatchGGUFAndHF() throws {
        guard let root = HFFixtures.models else {
            print("pretrained fixtures (Tests/fixtures/models) not found: tokenizer check skipped"); return
        }
        let manifest = try HFDirectory.readJSON(root + "/manifest.json", maxBytes: 1 << 20)
        var checked = 0, texts = 0, bad = 0
        for e in manifest["models"]?.array ?? [] {
            guard let name = e["name"]?.string, let hfName = e["hf_dir"]?.string else { continue }
            let hf = try HFDirectory(path: root + "/" + hfName)
            let r = try Ref(root, name)
            let th = try BPETokenizer(hf: hf)
            let tg = try BPETokenizer(gguf: GGUFFile(path: root + "/" + r.gguf))
            XCTAssertEqual(th.preTokenizer, tg.preTokenizer == "default" ? "gpt2" : tg.preTokenizer, name)
            XCTAssertEqual(th.eos, tg.eos, "\(name): eos")
            let cfg = try HFTokenizerConfig(directory: hf.path)
            if cfg.bosToken != nil { XCTAssertEqual(th.bos, tg.bos, "\(name): bos") }
            XCTAssertNotNil(cfg.chatTemplate, name)
            checked += 1
            for (text, want) in r.texts {
                texts += 1
                let a = th.encode(text), b = tg.encode(text)
                if a != want || b != want {
                    bad += 1
                    XCTFail("\(name): \(text.debugDescription): tokenizer.json \(a), GGUF \(b), HF \(want)")
                }
                XCTAssertEqual(th.decode(a, keepSpecial: true), tg.decode(b, keepSpecial: true), "\(name): decode")
            }
        }
        print("fixture tokenizers from tokenizer.json: \(checked) models, \(texts) texts, \(bad) differ from GGUF or HF")
        XCTAssertGreaterThan(checked, 0)
    }

    // MARK: SmolLM2 (optional)

    /// SmolLM2-135M-Instruct saved by transformers (IBTPO_TEST_HF_DIR; see
    /// tools/fixtures/smollm2_to_hf.py) against its GGUF (IBTPO_TEST_GGUF): the same config,
    /// bit-identical parameters, the same logits and the same tokens for the BPE test texts.
    func testSmolLM2DirectoryMatchesGGUFWhenAvailable() throws {
        let env = ProcessInfo.processInfo.environment
        guard let dirPath = env["IBTPO_TEST_HF_DIR"], let ggufPath = env["IBTPO_TEST_GGUF"] else {
            print("IBTPO_TEST_HF_DIR / IBTPO_TEST_GGUF not set: SmolLM2 HF-directory check skipped"); return
        }
        let t0 = nowSeconds()
        let hf = try HFDirectory(path: dirPath)
        let ch = try ModelConfig(hf: hf, maxSeq: 64)
        let mh = try Model(config: ch, shape: TrainShape(batch: 1, seq: 15), threads: 2, seed: 1, initialize: false)
        let t1 = nowSeconds()
        try mh.loadWeights(fromHF: hf)
        let hfSeconds = nowSeconds() - t0, weightSeconds = nowSeconds() - t1
        let g = try GGUFFile(path: ggufPath)
        let cg = try ModelConfig(gguf: g, maxSeq: 64)
        XCTAssertEqual(ch, cg)
        let mg = try Model(config: cg, shape: TrainShape(batch: 1, seq: 15), threads: 2, seed: 1, initialize: false)
        try mg.loadWeights(from: g)
        var differ = 0, maxDiff: Float = 0
        for t in mh.layout.tensors {
            for i in 0..<t.count where mh.params[t.offset + i] != mg.params[t.offset + i] {
                differ += 1; maxDiff = max(maxDiff, abs(mh.params[t.offset + i] - mg.params[t.offset + i]))
            }
        }
        let tokens: [Int32] = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 30, 2, 198, 1, 520, 9531, 198]
        var worst = Worst("SmolLM2 logits, HF directory vs GGUF (abs)")
        for m in [mh, mg] { for (i, t) in tokens.enumerated() { m.tokens[i] = t; m.targets[i] = -1; m.coef[i] = 0 }; m.forward() }
        for i in 0..<(tokens.count * ch.vocab) { worst.see(Double(mh.logits[i]), Double(mg.logits[i]), denom: 1, "\(i)") }
        let th = try BPETokenizer(hf: hf), tg = try BPETokenizer(gguf: g)
        var texts = 0, badTok = 0
        let cases = try MappedFile(path: HFFixtures.tests + "/fixtures/gguf/smollm2_cases.jsonl")
        for line in withExtendedLifetime(cases, { cases.bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) } }) where !line.isEmpty {
            let v = try JSONParser.parse(line)
            guard let text = v["text"]?.string else { continue }
            let want = (v["ids"]?.array ?? []).compactMap { $0.int.map(Int32.init) }
            texts += 1
            if th.encode(text) != tg.encode(text) || th.encode(text) != want {
                badTok += 1
                XCTFail("\(text.debugDescription): tokenizer.json \(th.encode(text)), GGUF \(tg.encode(text)), HF \(want)")
            }
        }
        print("SmolLM2 HF directory: opened and loaded in \(hfSeconds) s (weights \(weightSeconds) s); \(differ) of \(mh.layout.parameterCount) parameters differ from "
            + "the GGUF's (max \(maxDiff)); \(worst); tokenizer: \(texts) texts, \(badTok) differ")
        XCTAssertEqual(differ, 0)
        XCTAssertEqual(worst.err, 0)
        XCTAssertGreaterThan(texts, 0)
        XCTAssertEqual(badTok, 0)
    }
}
