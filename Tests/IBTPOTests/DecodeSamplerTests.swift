import CAllocCounter
import XCTest
@testable import IBTPO

final class DecodeSamplerTests: XCTestCase {
    func logSoftmax(_ l: [Float]) -> [Double] {
        let m = Double(l.max() ?? 0)
        let lse = m + log(l.reduce(0.0) { $0 + exp(Double($1) - m) })
        return l.map { Double($0) - lse }
    }

    /// Draws `n` tokens from `logits`; returns the empirical distribution and checks each
    /// draw's recorded log-probabilities.
    func draw(_ logits: [Float], _ p: SamplingParams, n: Int, target: [Double], file: StaticString = #filePath,
              line: UInt = #line) -> [Double] {
        let V = logits.count
        let probs = UnsafeMutablePointer<Float>.allocate(capacity: V); defer { probs.deallocate() }
        let order = UnsafeMutablePointer<Int32>.allocate(capacity: V); defer { order.deallocate() }
        var rng = Rng(seed: 3)
        var counts = [Double](repeating: 0, count: V)
        let ls = logSoftmax(logits)
        var worst = Worst("recorded logp")
        logits.withUnsafeBufferPointer { lp in
            for _ in 0..<n {
                let t = TokenSampler.sample(lp.baseAddress!, vocab: V, p, rng: &rng, probs: probs, order: order)
                counts[Int(t.token)] += 1
                worst.see(Double(t.logp), ls[Int(t.token)], denom: 1, "logp of \(t.token)")
                worst.see(Double(t.sampleLogp), log(target[Int(t.token)]), denom: 1, "sampleLogp of \(t.token)")
            }
        }
        worst.check(1e-5, file: file, line: line)
        return counts.map { $0 / Double(n) }
    }

    /// softmax(l/T) restricted to `support`, renormalised.
    func target(_ l: [Float], T: Double, support: Set<Int>) -> [Double] {
        let e = l.enumerated().map { support.contains($0.offset) ? exp(Double($0.element) / T) : 0 }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func checkDistribution(_ l: [Float], _ p: SamplingParams, support: Set<Int>, name: String) {
        let want = target(l, T: Double(p.temperature), support: support)
        let got = draw(l, p, n: 100_000, target: want)
        var worst = Worst(name)
        for i in 0..<l.count {
            if !support.contains(i) { XCTAssertEqual(got[i], 0, "\(name): token \(i) outside the support was drawn") }
            worst.see(got[i], want[i], denom: 1, "token \(i)")
        }
        worst.check(0.006)
    }

    // Logits with distinct, well separated probabilities (ranking: 3, 7, 0, 9, 5, 1, 8, 2, 6, 4).
    let l: [Float] = [1.0, 0.2, -0.5, 2.0, -2.0, 0.5, -1.0, 1.5, -0.1, 0.8]

    func testTemperatureOnly() { checkDistribution(l, SamplingParams(temperature: 0.7), support: Set(0..<10), name: "T=0.7") }

    func testTopK() {
        checkDistribution(l, SamplingParams(temperature: 1, topK: 3), support: [3, 7, 0], name: "top-k 3")
        checkDistribution(l, SamplingParams(temperature: 2, topK: 1), support: [3], name: "top-k 1")
    }

    func testTopP() {
        // T = 1 probabilities (sorted): 3: .341, 7: .207, 0: .125, 9: .103, 5: .076, ...
        // cumulative .341, .547, .672, .775 → top-p 0.6 keeps {3, 7, 0}; 0.7 keeps {3, 7, 0, 9}; 0.2 keeps {3}.
        checkDistribution(l, SamplingParams(temperature: 1, topP: 0.6), support: [3, 7, 0], name: "top-p 0.6")
        checkDistribution(l, SamplingParams(temperature: 1, topP: 0.7), support: [3, 7, 0, 9], name: "top-p 0.7")
        checkDistribution(l, SamplingParams(temperature: 1, topP: 0.2), support: [3], name: "top-p 0.2")
    }

    func testTopKThenTopP() {
        // Top-3 renormalised: 3: .506, 7: .307, 0: .186 → top-p 0.7 keeps {3, 7}.
        checkDistribution(l, SamplingParams(temperature: 1, topK: 3, topP: 0.7), support: [3, 7], name: "top-k 3, top-p 0.7")
    }

    func testGreedyIsArgmax() {
        var rng = Rng(seed: 1)
        let V = 300
        let probs = UnsafeMutablePointer<Float>.allocate(capacity: V); defer { probs.deallocate() }
        let order = UnsafeMutablePointer<Int32>.allocate(capacity: V); defer { order.deallocate() }
        for _ in 0..<50 {
            let row = (0..<V).map { _ in rng.nextGaussian() * 3 }
            let arg = row.indices.max { row[$0] < row[$1] }!
            let t = row.withUnsafeBufferPointer {
                TokenSampler.sample($0.baseAddress!, vocab: V, SamplingParams(temperature: 0), rng: &rng, probs: probs, order: order)
            }
            XCTAssertEqual(Int(t.token), arg)
            XCTAssertEqual(Double(t.logp), logSoftmax(row)[arg], accuracy: 1e-5)
            XCTAssertEqual(t.sampleLogp, 0)
        }
        XCTAssertThrowsError(try SamplingParams(temperature: -1).validate())
        XCTAssertThrowsError(try SamplingParams(topP: 0).validate())
        XCTAssertThrowsError(try SamplingParams(topK: -1).validate())
        XCTAssertThrowsError(try SamplingParams(maxNewTokens: 0).validate())
    }

    // MARK: batch sampler

    func makeModel(threads: Int, slots: Int, maxSeq: Int = 48) throws -> Model {
        let cfg = ModelConfig(vocab: 40, dModel: 32, nLayers: 2, nHeads: 4, nKVHeads: 2, dFF: 64, maxSeq: maxSeq)
        let m = try Model(config: cfg, shape: TrainShape(batch: 1, seq: maxSeq), threads: threads, seed: 5, decodeSlots: slots)
        var rng = Rng(seed: 17)
        for t in m.layout.tensors where t.shape.count > 1 {
            for j in 0..<t.count { m.params[t.offset + j] = rng.nextGaussian() * 0.3 }
        }
        return m
    }

    let prompts: [[Int32]] = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11], [12, 13]]

    func run(_ m: Model, _ prompts: [[Int32]], G: Int = 3, p: SamplingParams = SamplingParams(topK: 20, topP: 0.95, maxNewTokens: 20, eos: 0)) throws -> [Rollout] {
        try RolloutSampler(model: m).generate(prompts: prompts, samplesPerPrompt: G, params: p, seed: 42)
    }

    func testDeterministicAcrossBatchSlotsAndThreads() throws {
        let base = try run(makeModel(threads: 2, slots: 8), prompts)
        XCTAssertEqual(base.count, 12)
        XCTAssertEqual(try run(makeModel(threads: 2, slots: 8), prompts), base, "same seed, same samples")
        XCTAssertEqual(try run(makeModel(threads: 1, slots: 8), prompts), base, "1 vs 2 threads")
        XCTAssertEqual(try run(makeModel(threads: 2, slots: 3), prompts), base, "fewer slots than sequences")
        let more = try run(makeModel(threads: 2, slots: 16), prompts + [[20, 21, 22, 23], [30]])
        XCTAssertEqual(Array(more[0..<12]), base, "other prompts added to the batch")
        let eos = base.filter { $0.finish == .eos }.count, len = base.filter { $0.finish == .length }.count
        print("finish: \(eos) eos, \(len) length; lengths \(base.map { $0.tokens.count })")
        for r in base {
            XCTAssertEqual(r.tokens.count, r.logp.count)
            XCTAssertTrue(r.finish == .eos ? r.tokens.last == 0 : r.tokens.count == 20)
            XCTAssertFalse(r.tokens.dropLast().contains(0))
        }
        XCTAssertNotEqual(base[0].tokens, base[1].tokens, "samples of one prompt differ")
    }

    /// Recorded logp equals the training forward's log-prob of the same response (teacher forcing).
    func testRecordedLogpMatchesForward() throws {
        let m = try makeModel(threads: 2, slots: 8)
        let outs = try run(m, prompts, G: 2, p: SamplingParams(temperature: 0.8, topK: 10, maxNewTokens: 30, eos: 0))
        var worst = Worst("rollout logp vs forward")
        var generated = 0
        for r in outs {
            let seq = prompts[r.prompt] + r.tokens
            let T = m.shape.seq
            for t in 0..<T {
                m.tokens[t] = t < seq.count ? seq[t] : 0
                m.targets[t] = t + 1 < seq.count && t + 1 >= prompts[r.prompt].count ? seq[t + 1] : -1
            }
            m.forward()
            for (k, lp) in r.logp.enumerated() {
                let t = prompts[r.prompt].count - 1 + k
                worst.see(Double(lp), Double(m.logp[t]), denom: 1, "prompt \(r.prompt) sample \(r.sample) token \(k)")
            }
            generated += r.tokens.count
        }
        worst.check(1e-4)
        XCTAssertEqual(generated, outs.reduce(0) { $0 + $1.tokens.count })
    }

    func testLengthCapAndBadInput() throws {
        let m = try makeModel(threads: 1, slots: 4, maxSeq: 10)
        let outs = try run(m, [[1, 2, 3, 4, 5, 6, 7, 8]], G: 2, p: SamplingParams(temperature: 1, maxNewTokens: 50, eos: nil))
        for r in outs { XCTAssertEqual(r.tokens.count, 2); XCTAssertEqual(r.finish, .length) }
        let s = try RolloutSampler(model: m)
        XCTAssertThrowsError(try s.generate(prompts: [[]], samplesPerPrompt: 1, params: SamplingParams(), seed: 1))
        XCTAssertThrowsError(try s.generate(prompts: [Array(repeating: 1, count: 10)], samplesPerPrompt: 1, params: SamplingParams(), seed: 1))
        XCTAssertThrowsError(try s.generate(prompts: [[40]], samplesPerPrompt: 1, params: SamplingParams(), seed: 1))
        XCTAssertThrowsError(try s.generate(prompts: [[1]], samplesPerPrompt: 0, params: SamplingParams(), seed: 1))
        let noDecoder = try Model(config: m.config, shape: m.shape, threads: 1, seed: 1)
        XCTAssertThrowsError(try RolloutSampler(model: noDecoder))
    }

    /// The decode loop (admission, prefill, copy-on-branch, step, sampling) allocates nothing.
    /// Meaningful in release builds (`swift test -c release -Xswiftc -enable-testing`).
    func testDecodeLoopDoesNotAllocate() throws {
        let m = try makeModel(threads: 2, slots: 6)
        let s = try RolloutSampler(model: m)
        let p = SamplingParams(temperature: 1, topK: 8, topP: 0.9, maxNewTokens: 30, eos: 0)
        try s.begin(prompts: prompts + prompts, samplesPerPrompt: 3, params: p, seed: 9)
        _ = s.advance()
        // Only the sampler's threads (this one and the pool's workers) count.
        let tids = m.pool.workerThreadIDs
        tids.withUnsafeBufferPointer { alloc_counter_start_threads($0.baseAddress, Int32($0.count)) }
        var steps = 0
        while s.advance() { steps += 1 }
        let calls = alloc_counter_stop()
        let outs = s.results()
        print("allocation calls during \(steps) decode steps (\(s.generatedTokens) tokens, \(outs.count) sequences): \(calls) "
            + "by the sampler's \(tids.count + 1) threads, \(alloc_counter_foreign()) by other threads")
        XCTAssertEqual(calls, 0)
    }
}
