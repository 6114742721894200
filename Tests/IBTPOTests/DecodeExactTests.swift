import XCTest
@testable import IBTPO

/// Prefill + incremental KV-cached decoding reproduces the training forward's logits.
final class DecodeExactTests: XCTestCase {
    /// A model whose parameters are large enough that attention is far from uniform.
    func makeModel(_ cfg: ModelConfig, batch: Int, seq: Int, slots: Int, threads: Int = 2) throws -> Model {
        let m = try Model(config: cfg, shape: TrainShape(batch: batch, seq: seq), threads: threads, seed: 11,
                          decodeSlots: slots)
        var rng = Rng(seed: 99)
        for t in m.layout.tensors {
            let p = m.params + t.offset
            for j in 0..<t.count { p[j] = t.shape.count == 1 ? 1 + 0.2 * rng.nextGaussian() : p[j] * 6 }
        }
        return m
    }

    /// Full forward over `seqs` (padded to the longest), logits (B·T, V).
    func reference(_ m: Model, _ seqs: [[Int32]]) -> [Float] {
        let T = m.shape.seq, V = m.config.vocab
        for (b, s) in seqs.enumerated() {
            for t in 0..<T { m.tokens[b * T + t] = t < s.count ? s[t] : 0; m.targets[b * T + t] = -1 }
        }
        m.forward()
        return Array(UnsafeBufferPointer(start: m.logits, count: m.shape.tokens * V))
    }

    func checkBatch(_ cfg: ModelConfig, name: String) throws {
        // Four sequences of different lengths and prompt lengths, decoding together.
        let lens = [9, 23, 16, 30], prompts = [3, 7, 1, 12]
        let T = 30
        let m = try makeModel(cfg, batch: lens.count, seq: T, slots: 6)
        guard let dec = m.decoder else { return XCTFail("no decoder") }
        var rng = Rng(seed: 5)
        let seqs = lens.map { n in (0..<n).map { _ in Int32(rng.nextInt(cfg.vocab)) } }
        let ref = reference(m, seqs)
        let V = cfg.vocab
        var worst = Worst("decode \(name)")
        // Slots 5, 0, 3, 1 (not in order), prefill the prompts.
        let slotOf: [Int32] = [5, 0, 3, 1]
        for (i, s) in seqs.enumerated() {
            try dec.cache.reset(Int(slotOf[i]))
            try dec.prefill(slot: Int(slotOf[i]), tokens: Array(s[0..<prompts[i]]))
            for t in 0..<prompts[i] {
                for v in 0..<V {
                    worst.see(Double(dec.logits[t * V + v]), Double(ref[(i * T + t) * V + v]), denom: 1, "prefill seq \(i) t \(t) v \(v)")
                }
            }
        }
        // Then decode: at each step every sequence with tokens left feeds its next one.
        var pos = prompts
        while true {
            var active: [Int] = []
            for i in seqs.indices where pos[i] < lens[i] { active.append(i) }
            if active.isEmpty { break }
            try dec.step(slots: active.map { slotOf[$0] }, tokens: active.map { seqs[$0][pos[$0]] })
            for (r, i) in active.enumerated() {
                for v in 0..<V {
                    worst.see(Double(dec.logits[r * V + v]), Double(ref[(i * T + pos[i]) * V + v]), denom: 1,
                              "step seq \(i) t \(pos[i]) v \(v)")
                }
                pos[i] += 1
            }
        }
        for i in seqs.indices { XCTAssertEqual(dec.cache.length(Int(slotOf[i])), lens[i]) }
        worst.check(1e-4)
    }

    func testDecodeMatchesForwardGQATied() throws {
        try checkBatch(ModelConfig(vocab: 61, dModel: 48, nLayers: 2, nHeads: 6, nKVHeads: 2, dFF: 72, maxSeq: 40,
                                   tieEmbeddings: true), name: "GQA tied")
    }

    func testDecodeMatchesForwardGQAUntied() throws {
        try checkBatch(ModelConfig(vocab: 37, dModel: 64, nLayers: 3, nHeads: 4, nKVHeads: 1, dFF: 100, maxSeq: 32,
                                   tieEmbeddings: false), name: "GQA untied")
    }

    func testDecodeMatchesForwardMHA() throws {
        // d = 12 (not a multiple of 8) exercises the scalar tails; odd sizes break the fused GEMMs.
        try checkBatch(ModelConfig(vocab: 53, dModel: 36, nLayers: 2, nHeads: 3, nKVHeads: 3, dFF: 50, maxSeq: 30,
                                   tieEmbeddings: false), name: "MHA odd")
    }

    func testDecodeMatchesForwardExtendedConfig() throws {
        // head_dim 10 ≠ d_model / n_heads (= 8), q/k/v biases, per-frequency RoPE factors.
        let f: [Float] = [1, 1, 1.7, 4, 8]
        try checkBatch(ModelConfig(vocab: 41, dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 48, maxSeq: 30,
                                   tieEmbeddings: false, headDim: 10, attentionBias: true,
                                   ropeScaling: RopeScaling(factors: f)), name: "extended")
    }

    /// A branch copies a shared prefix from another slot and continues with its own tokens;
    /// its logits equal a full forward of prefix + its tokens.
    func testCopyPrefixBranch() throws {
        let cfg = ModelConfig(vocab: 45, dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 64, maxSeq: 24)
        let m = try makeModel(cfg, batch: 3, seq: 20, slots: 4)
        guard let dec = m.decoder else { return XCTFail("no decoder") }
        var rng = Rng(seed: 8)
        let trunk = (0..<14).map { _ in Int32(rng.nextInt(cfg.vocab)) }
        let shared = 8
        let branchA = Array(trunk[0..<shared]) + (0..<12).map { _ in Int32(rng.nextInt(cfg.vocab)) }
        let branchB = Array(trunk[0..<shared]) + (0..<5).map { _ in Int32(rng.nextInt(cfg.vocab)) }
        let seqs = [trunk, branchA, branchB]
        let ref = reference(m, seqs)
        let V = cfg.vocab, T = 20
        var worst = Worst("copyPrefix branch")
        // The trunk runs in slot 2 to its end; the branches copy its first `shared` positions.
        try dec.prefill(slot: 2, tokens: trunk)
        try dec.copyPrefix(from: 2, to: 0, length: shared)
        try dec.copyPrefix(from: 2, to: 3, length: shared)
        XCTAssertThrowsError(try dec.copyPrefix(from: 2, to: 1, length: 15))
        var pos = [14, shared, shared]
        let slotOf: [Int32] = [2, 0, 3]
        while true {
            var active: [Int] = []
            for i in 1..<3 where pos[i] < seqs[i].count { active.append(i) }
            if active.isEmpty { break }
            try dec.step(slots: active.map { slotOf[$0] }, tokens: active.map { seqs[$0][pos[$0]] })
            for (r, i) in active.enumerated() {
                for v in 0..<V {
                    worst.see(Double(dec.logits[r * V + v]), Double(ref[(i * T + pos[i]) * V + v]), denom: 1,
                              "branch \(i) t \(pos[i]) v \(v)")
                }
                pos[i] += 1
            }
        }
        worst.check(1e-4)
    }

    func testStepRejectsBadInput() throws {
        let cfg = ModelConfig(vocab: 45, dModel: 32, nLayers: 1, nHeads: 4, nKVHeads: 2, dFF: 64, maxSeq: 4)
        let m = try makeModel(cfg, batch: 1, seq: 4, slots: 2)
        guard let dec = m.decoder else { return XCTFail("no decoder") }
        XCTAssertThrowsError(try dec.step(slots: [0, 0], tokens: [1, 2]))
        XCTAssertThrowsError(try dec.step(slots: [2], tokens: [1]))
        XCTAssertThrowsError(try dec.step(slots: [0], tokens: [45]))
        XCTAssertThrowsError(try dec.step(slots: [0, 1, 1], tokens: [1, 2, 3]))
        XCTAssertThrowsError(try dec.prefill(slot: 0, tokens: [1, 2, 3, 4, 5]))
        try dec.prefill(slot: 0, tokens: [1, 2, 3, 4])
        XCTAssertThrowsError(try dec.step(slots: [0], tokens: [1]))
        XCTAssertThrowsError(try Model(config: cfg, shape: TrainShape(batch: 1, seq: 4), threads: 1, seed: 1, decodeSlots: -1))
    }
}
