import Glibc

extension Model {
    /// Backward pass after `forward`: accumulates ∂L/∂θ into `grads` (call `zeroGrads`
    /// first unless accumulating), where the loss enters through `coef[r]` = ∂L/∂logp[r]
    /// and, when `withEntropy`, `entCoef[r]` = ∂L/∂entropy[r] (forward must have computed
    /// the entropy). Overwrites `logits` with their gradient. Allocates nothing.
    public func backward(withEntropy: Bool = false) {
        let c = config, B = shape.batch, T = shape.seq, N = B * T
        let C = c.dModel, F = c.dFF, KV = c.kvDim, V = c.vocab, d = c.headDim
        let P = params, G = grads
        let ashape = AttentionShape(batch: B, seq: T, heads: c.nHeads, kvHeads: c.nKVHeads, headDim: d)

        // dlogits = c·(onehot − p) [+ e·∂H/∂logits]                   // (N, V), in place
        let lg = logits, tg = targets, lse = lse, cf = coef
        let ec: UnsafePointer<Float>? = withEntropy ? UnsafePointer(entCoef) : nil
        let en: UnsafePointer<Float>? = withEntropy ? UnsafePointer(entropy) : nil
        pool.parallelFor(N) { lo, hi in LMHead.backward(lg, vocab: V, tg, lse, cf, ec, en, rows: lo, hi) }
        // dxnF = dlogits Wlm; dWlm += dlogitsᵀ xnF
        pool.linearBackward(logits, xnF, P + layout.lmHead, dXn, G + layout.lmHead, n: N, inDim: C, outDim: V)
        // dx_L = rmsnorm backward
        let xL = res[c.nLayers], dRes = dRes, dXn = dXn, rstdF = rstdF
        pool.parallelFor(N) { lo, hi in
            RMSNorm.backwardInput(dXn, xL, P + self.layout.finalNorm, rstdF, dRes, c: C, rows: lo, hi, accumulate: false)
        }
        pool.parallelFor(C) { lo, hi in
            RMSNorm.backwardWeight(dXn, xL, rstdF, G + self.layout.finalNorm, c: C, rows: N, cols: lo, hi)
        }
        for l in stride(from: c.nLayers - 1, through: 0, by: -1) {
            let L = layout.layers[l], a = acts[l]
            let xin = res[l]
            let xn1 = act(a.xn1), rstd1 = act(a.rstd1), q = act(a.q), k = act(a.k), v = act(a.v)
            let att = act(a.att), ao = act(a.ao), xMid = act(a.xMid)
            let xn2 = act(a.xn2), rstd2 = act(a.rstd2), gate = act(a.gate), up = act(a.up), hid = act(a.hid)
            let dHid = dHid, dGate = dGate, dUp = dUp, dAo = dAo, dq = dq, dk = dk, dv = dv, dAtt = dAtt
            // x' = xMid + hid Wdownᵀ:  dHid = dRes Wdown; dWdown += dResᵀ hid
            pool.linearBackward(dRes, hid, P + L.wDown, dHid, G + L.wDown, n: N, inDim: F, outDim: C)
            pool.parallelFor(N * F) { lo, hi in SwiGLU.backward(dHid, gate, up, dGate, dUp, lo, hi) }
            // dxn2 = dGate Wgate + dUp Wup
            pool.linearBackward(dGate, xn2, P + L.wGate, dXn, G + L.wGate, n: N, inDim: C, outDim: F)
            pool.linearBackward(dUp, xn2, P + L.wUp, dXn, G + L.wUp, n: N, inDim: C, outDim: F, accumulateDx: true)
            // dxMid = dRes + rmsnorm backward(dxn2)
            pool.parallelFor(N) { lo, hi in
                RMSNorm.backwardInput(dXn, xMid, P + L.mlpNorm, rstd2, dRes, c: C, rows: lo, hi, accumulate: true)
            }
            pool.parallelFor(C) { lo, hi in RMSNorm.backwardWeight(dXn, xMid, rstd2, G + L.mlpNorm, c: C, rows: N, cols: lo, hi) }
            // xMid = x + ao Woᵀ:  dAo = dRes Wo; dWo += dResᵀ ao
            pool.linearBackward(dRes, ao, P + L.wo, dAo, G + L.wo, n: N, inDim: C, outDim: C)
            // attention backward → dq, dk, dv (post-RoPE)
            pool.parallelFor(ashape.units) { lo, hi in
                Attention.backward(ashape, q, k, v, att, dAo, dAtt, dq, dk, dv, units: lo, hi)
            }
            // undo RoPE on dq, dk
            let rc = ropeCos, rsn = ropeSin
            pool.parallelFor(N) { lo, hi in
                for r in lo..<hi {
                    Rope.apply(dq + r * C, heads: c.nHeads, headDim: d, pos: r % T, cos: rc, sin: rsn, inverse: true)
                    Rope.apply(dk + r * KV, heads: c.nKVHeads, headDim: d, pos: r % T, cos: rc, sin: rsn, inverse: true)
                }
            }
            // dxn1 = dq Wq + dk Wk + dv Wv
            pool.linearBackward(dq, xn1, P + L.wq, dXn, G + L.wq, n: N, inDim: C, outDim: C)
            pool.linearBackward(dk, xn1, P + L.wk, dXn, G + L.wk, n: N, inDim: C, outDim: KV, accumulateDx: true)
            pool.linearBackward(dv, xn1, P + L.wv, dXn, G + L.wv, n: N, inDim: C, outDim: KV, accumulateDx: true)
            // dx = dxMid + rmsnorm backward(dxn1)
            pool.parallelFor(N) { lo, hi in
                RMSNorm.backwardInput(dXn, xin, P + L.attnNorm, rstd1, dRes, c: C, rows: lo, hi, accumulate: true)
            }
            pool.parallelFor(C) { lo, hi in RMSNorm.backwardWeight(dXn, xin, rstd1, G + L.attnNorm, c: C, rows: N, cols: lo, hi) }
        }
        // dEmb[tokens[r]] += dx[r], serial in token order (deterministic; rows may repeat).
        let ge = G + layout.tokEmb
        for r in 0..<N {
            let dst = ge + Int(tokens[r]) * C, src = dRes + r * C
            for j in 0..<C { dst[j] += src[j] }
        }
    }
}
