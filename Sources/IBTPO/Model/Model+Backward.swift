import Glibc

extension Model {
    /// Backward pass after `forward`: accumulates ∂L/∂θ into `grads` (call `zeroGrads`
    /// first unless accumulating), where the loss enters through `coef[r]` = ∂L/∂logp[r]
    /// and, when `withEntropy`, `entCoef[r]` = ∂L/∂entropy[r] (forward must have computed
    /// the entropy). Overwrites `logits` with their gradient. Allocates nothing.
    public func backward(withEntropy: Bool = false) {
        let c = config, B = pass.batch, T = pass.seq, N = B * T
        let C = c.dModel, F = c.dFF, KV = c.kvDim, V = c.vocab, d = c.headDim, QD = c.qDim
        let P = params, G = grads
        let ashape = AttentionShape(batch: B, seq: T, heads: c.nHeads, kvHeads: c.nKVHeads, headDim: d)

        // dlogits = c·(onehot − p) [+ e·∂H/∂logits]                   // (N, V), in place
        pool.run(N, LMHeadBackwardJob(logits: logits, vocab: V, targets: targets, lse: lse, coef: coef,
                                      entCoef: withEntropy ? UnsafePointer(entCoef) : nil,
                                      entropy: withEntropy ? UnsafePointer(entropy) : nil))
        // dxnF = dlogits Wlm; dWlm += dlogitsᵀ xnF
        pool.linearBackward(logits, xnF, P + layout.lmHead, dXn, G + layout.lmHead, n: N, inDim: C, outDim: V,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
        // dx_L = rmsnorm backward
        let xL = res[c.nLayers]
        pool.run(N, RMSBackInputJob(dy: dXn, x: xL, w: P + layout.finalNorm, rstd: rstdF, dx: dRes, c: C, accumulate: false))
        pool.run(C, RMSBackWeightJob(dy: dXn, x: xL, rstd: rstdF, dw: G + layout.finalNorm, c: C, rows: N))
        for l in stride(from: c.nLayers - 1, through: 0, by: -1) {
            let L = layout.layers[l], a = acts[l]
            let xin = res[l]
            let xn1 = act(a.xn1), rstd1 = act(a.rstd1), q = act(a.q), k = act(a.k), v = act(a.v)
            let att = act(a.att), ao = act(a.ao), xMid = act(a.xMid)
            let xn2 = act(a.xn2), rstd2 = act(a.rstd2), gate = act(a.gate), up = act(a.up), hid = act(a.hid)
            // x' = xMid + hid Wdownᵀ:  dHid = dRes Wdown; dWdown += dResᵀ hid
            pool.linearBackward(dRes, hid, P + L.wDown, dHid, G + L.wDown, n: N, inDim: F, outDim: C,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            pool.run(N * F, SwiGLUBackwardJob(dh: dHid, g: gate, u: up, dg: dGate, du: dUp))
            // dxn2 = dGate Wgate + dUp Wup
            pool.linearBackward(dGate, xn2, P + L.wGate, dXn, G + L.wGate, n: N, inDim: C, outDim: F,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            pool.linearBackward(dUp, xn2, P + L.wUp, dXn, G + L.wUp, n: N, inDim: C, outDim: F, accumulateDx: true,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            // dxMid = dRes + rmsnorm backward(dxn2)
            pool.run(N, RMSBackInputJob(dy: dXn, x: xMid, w: P + L.mlpNorm, rstd: rstd2, dx: dRes, c: C, accumulate: true))
            pool.run(C, RMSBackWeightJob(dy: dXn, x: xMid, rstd: rstd2, dw: G + L.mlpNorm, c: C, rows: N))
            // xMid = x + ao Woᵀ:  dAo = dRes Wo; dWo += dResᵀ ao
            pool.linearBackward(dRes, ao, P + L.wo, dAo, G + L.wo, n: N, inDim: QD, outDim: C,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            // attention backward → dq, dk, dv (post-RoPE)
            pool.run(ashape.units, AttentionBackwardJob(s: ashape, q: q, k: k, v: v, p: att, dout: dAo, dp: dAtt,
                                                        dq: dq, dk: dk, dv: dv))
            // undo RoPE on dq, dk
            pool.run(N, RopeJob(q: dq, k: dk, heads: c.nHeads, kvHeads: c.nKVHeads, d: d, seq: T, cos: ropeCos,
                                sin: ropeSin, inverse: true))
            // dbq, dbk, dbv = column sums of dq, dk, dv (pre-RoPE)
            if c.attentionBias {
                let bs = BiasGradJob.block
                pool.run((QD + bs - 1) / bs, BiasGradJob(dy: dq, db: G + L.bq, n: QD, rows: N))
                pool.run((KV + bs - 1) / bs, BiasGradJob(dy: dk, db: G + L.bk, n: KV, rows: N))
                pool.run((KV + bs - 1) / bs, BiasGradJob(dy: dv, db: G + L.bv, n: KV, rows: N))
            }
            // dxn1 = dq Wq + dk Wk + dv Wv
            pool.linearBackward(dq, xn1, P + L.wq, dXn, G + L.wq, n: N, inDim: C, outDim: QD,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            pool.linearBackward(dk, xn1, P + L.wk, dXn, G + L.wk, n: N, inDim: C, outDim: KV, accumulateDx: true,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            pool.linearBackward(dv, xn1, P + L.wv, dXn, G + L.wv, n: N, inDim: C, outDim: KV, accumulateDx: true,
                                scratch: gemmScratch, scratchCount: gemmScratchCount)
            // dx = dxMid + rmsnorm backward(dxn1)
            pool.run(N, RMSBackInputJob(dy: dXn, x: xin, w: P + L.attnNorm, rstd: rstd1, dx: dRes, c: C, accumulate: true))
            pool.run(C, RMSBackWeightJob(dy: dXn, x: xin, rstd: rstd1, dw: G + L.attnNorm, c: C, rows: N))
        }
        // dEmb[tokens[r]] += dx[r], serial in token order (deterministic; rows may repeat).
        let ge = G + layout.tokEmb
        for r in 0..<N {
            let dst = ge + Int(tokens[r]) * C, src = dRes + r * C
            for j in 0..<C { dst[j] += src[j] }
        }
    }
}
