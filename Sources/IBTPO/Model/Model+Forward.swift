import Glibc

extension Model {
    /// Forward pass over `tokens` (B·T, caller-validated to lie in 0..<vocab). Saves every
    /// activation the backward needs and fills `logits`, `logp` (log-prob of each target;
    /// 0 where target = -1) and, when `withEntropy`, the per-token `entropy`.
    /// `weights` (a flat vector in `layout`, e.g. a frozen reference policy) replaces
    /// `params` for this pass only. Returns nothing and allocates nothing; runs on `pool`.
    public func forward(withEntropy: Bool = false, weights: UnsafeMutablePointer<Float>? = nil) {
        let c = config, B = pass.batch, T = pass.seq, N = B * T
        let C = c.dModel, F = c.dFF, KV = c.kvDim, V = c.vocab, d = c.headDim, QD = c.qDim
        let P = weights ?? params
        let ashape = AttentionShape(batch: B, seq: T, heads: c.nHeads, kvHeads: c.nKVHeads, headDim: d)

        // x = tok_embeddings[tokens]                                   // (N, C)
        pool.run(N, EmbedJob(x: res[0], emb: P + layout.tokEmb, tokens: tokens, c: C))
        for l in 0..<c.nLayers {
            let L = layout.layers[l], a = acts[l]
            let xin = res[l], xout = res[l + 1]
            let xn1 = act(a.xn1), rstd1 = act(a.rstd1), q = act(a.q), k = act(a.k), v = act(a.v)
            let att = act(a.att), ao = act(a.ao), xMid = act(a.xMid)
            let xn2 = act(a.xn2), rstd2 = act(a.rstd2), gate = act(a.gate), up = act(a.up), hid = act(a.hid)
            // xn1 = rmsnorm(x) · attention_norm                         // (N, C)
            pool.run(N, RMSForwardJob(x: xin, w: P + L.attnNorm, y: xn1, rstd: rstd1, c: C, eps: c.normEps))
            // q = xn1 Wqᵀ [+ bq] (N, H·d); k, v = xn1 Wk/vᵀ [+ bk/bv] (N, KV·d)
            pool.linearForward(xn1, P + L.wq, q, n: N, inDim: C, outDim: QD)
            pool.linearForward(xn1, P + L.wk, k, n: N, inDim: C, outDim: KV)
            pool.linearForward(xn1, P + L.wv, v, n: N, inDim: C, outDim: KV)
            if c.attentionBias {
                pool.run(N, BiasAddJob(y: q, ld: QD, b: P + L.bq, n: QD))
                pool.run(N, BiasAddJob(y: k, ld: KV, b: P + L.bk, n: KV))
                pool.run(N, BiasAddJob(y: v, ld: KV, b: P + L.bv, n: KV))
            }
            // RoPE on q and k at positions t = r mod T
            pool.run(N, RopeJob(q: q, k: k, heads: c.nHeads, kvHeads: c.nKVHeads, d: d, seq: T, cos: ropeCos,
                                sin: ropeSin, inverse: false))
            // ao = softmax(q kᵀ / √d + causal) v                       // att (B, H, T, T), ao (N, H·d)
            pool.run(ashape.units, AttentionForwardJob(s: ashape, q: q, k: k, v: v, p: att, o: ao))
            // xMid = x + ao Woᵀ                                        // (N, C)
            memcpy(xMid, xin, N * C * 4)
            pool.sgemm(N, C, QD, ao, QD, 1, P + L.wo, 1, QD, beta: 1, xMid, C, 1)
            // xn2 = rmsnorm(xMid) · ffn_norm
            pool.run(N, RMSForwardJob(x: xMid, w: P + L.mlpNorm, y: xn2, rstd: rstd2, c: C, eps: c.normEps))
            // gate, up = xn2 Wgateᵀ, xn2 Wupᵀ (N, F); hid = silu(gate) ⊙ up
            pool.linearForward(xn2, P + L.wGate, gate, n: N, inDim: C, outDim: F)
            pool.linearForward(xn2, P + L.wUp, up, n: N, inDim: C, outDim: F)
            pool.run(N * F, SwiGLUForwardJob(g: gate, u: up, h: hid))
            // x' = xMid + hid Wdownᵀ                                  // (N, C)
            memcpy(xout, xMid, N * C * 4)
            pool.sgemm(N, C, F, hid, F, 1, P + L.wDown, 1, F, beta: 1, xout, C, 1)
        }
        // xnF = rmsnorm(x_L) · norm; logits = xnF Wlmᵀ                  // (N, C), (N, V)
        pool.run(N, RMSForwardJob(x: res[c.nLayers], w: P + layout.finalNorm, y: xnF, rstd: rstdF, c: C, eps: c.normEps))
        pool.linearForward(xnF, P + layout.lmHead, logits, n: N, inDim: C, outDim: V)
        pool.run(N, LMHeadForwardJob(logits: logits, vocab: V, targets: targets, lse: lse, logp: logp,
                                     entropy: withEntropy ? entropy : nil))
    }
}
