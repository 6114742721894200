import CIBTPO
import XCTest
@testable import IBTPO

/// `APIDefaults` (the front ends' defaults) against what the C fillers write, field by field
/// through the exported functions, and the one sampling default the header documents for
/// sampling, RL and evaluation alike.
final class APIDefaultsTests: XCTestCase {
    func testTableEqualsTheFillers() {
        var s = ibtpo_sampling_config(), r = ibtpo_rl_config(), e = ibtpo_eval_config(), t = ibtpo_trainer_config()
        XCTAssertEqual(ibtpo_sampling_config_default(&s), 0)
        XCTAssertEqual(ibtpo_rl_config_default(&r), 0)
        XCTAssertEqual(ibtpo_eval_config_default(&e), 0)
        XCTAssertEqual(ibtpo_trainer_config_default(&t), 0)

        func same(_ p: SamplingParams, _ c: ibtpo_sampling_config, _ what: String) {
            XCTAssertEqual(p.temperature, c.temperature, what); XCTAssertEqual(p.topK, Int(c.top_k), what)
            XCTAssertEqual(p.topP, c.top_p, what); XCTAssertEqual(p.maxNewTokens, Int(c.max_new_tokens), what)
            XCTAssertEqual(p.eos != nil, c.stop_at_eos == 1, what)
        }
        same(APIDefaults.sampling, s, "sampling")
        same(APIDefaults.rl.sampling, r.sampling, "rl.sampling")
        same(APIDefaults.eval.sampling, e.sampling, "eval.sampling")
        // The header: RL and evaluation use "the default sampling".
        XCTAssertEqual(APIDefaults.rl.sampling, APIDefaults.sampling)
        XCTAssertEqual(APIDefaults.eval.sampling, APIDefaults.sampling)

        let rl = APIDefaults.rl
        XCTAssertEqual(rl.algo == .grpo ? IBTPO_ALGO_GRPO : IBTPO_ALGO_IBTPO, r.algo)
        XCTAssertEqual(rl.promptsPerStep, Int(r.prompts_per_step)); XCTAssertEqual(rl.groupSize, Int(r.group_size))
        XCTAssertEqual([rl.tree.initialBranches, rl.tree.rounds, rl.tree.topK, rl.tree.branchWidth],
                       [r.tree_b0, r.tree_l, r.tree_k, r.tree_b].map(Int.init))
        XCTAssertEqual(rl.tree.rule.rawValue, r.branch_rule); XCTAssertEqual(rl.tree.fixedMaxDepth, Int(r.fixed_max_depth))
        XCTAssertEqual(rl.tree.expandRoot, r.expand_root == 1)
        XCTAssertEqual(rl.rl.beta, r.beta); XCTAssertEqual(rl.rl.lambda, r.lambda)
        XCTAssertEqual(rl.rl.clipLow, r.clip_low); XCTAssertEqual(rl.rl.clipHigh, r.clip_high)
        XCTAssertEqual(rl.rl.klCoef, r.kl_coef); XCTAssertEqual(rl.rl.entropyCoef, r.entropy_coef)
        XCTAssertEqual(rl.rl.epochs, Int(r.epochs)); XCTAssertEqual(rl.rl.minibatches, Int(r.minibatches))
        XCTAssertEqual(rl.probeEvery, Int(r.probe_every)); XCTAssertEqual(rl.seed, r.seed)
        XCTAssertEqual(APIDefaults.rlLearningRate, r.lr)

        XCTAssertEqual(APIDefaults.eval.count, Int(e.count)); XCTAssertEqual(APIDefaults.eval.k, Int(e.k))
        XCTAssertEqual(APIDefaults.eval.seed, e.seed)

        let tr = APIDefaults.trainer
        XCTAssertEqual([tr.batch, tr.seq, tr.threads, tr.warmup, tr.totalSteps, tr.rolloutSlots],
                       [t.batch, t.seq, t.threads, t.warmup_steps, t.total_steps, t.rollout_slots].map(Int.init))
        XCTAssertEqual(tr.seed, t.seed); XCTAssertEqual(tr.lr, t.lr); XCTAssertEqual(tr.minLR, t.min_lr)
        XCTAssertEqual(APIDefaults.model, try ModelConfig(c: t.model))
    }

    /// `ConfigFields` prints what the C mapping holds: every RL field of the filler appears
    /// with the filler's value (spot checks of each kind: int, double, float, enum, flag).
    func testConfigFieldsReadTheCMapping() {
        var r = ibtpo_rl_config()
        XCTAssertEqual(ibtpo_rl_config_default(&r), 0)
        let f = Dictionary(uniqueKeysWithValues: ConfigFields.rl(APIDefaults.rl))
        XCTAssertEqual(f["rl.prompts_per_step"], "\(r.prompts_per_step)")
        XCTAssertEqual(f["rl.beta"], "\(r.beta)")
        XCTAssertEqual(f["rl.lr"], "\(r.lr)")
        XCTAssertEqual(f["rl.sampling.max_new_tokens"], "\(r.sampling.max_new_tokens)")
        XCTAssertEqual(f["rl.algo"], r.algo == IBTPO_ALGO_IBTPO ? "ibtpo" : "grpo")
        XCTAssertEqual(f["rl.expand_root"], "\(r.expand_root)")
        XCTAssertEqual(f.count, 26 + 5)  // the ibtpo_rl_config fields but struct_size and sampling, + 5 of sampling
    }
}
