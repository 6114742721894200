import Glibc

extension Model {
    /// Forward pass over `tokens` (B·T, caller-validated to lie in 0..<vocab). Saves every
    /// activation the backward needs and fills `logits`, `logp` (log-prob of each target;
    /// 0 where target = -1) and, when `withEntropy`, the per-token `entropy`.
    /// Returns nothing and allocates nothing; runs on `pool`.
    public func forward(withEntropy: Bool = false) {
        let c = config, B = shape.batch, T = shape.seq, N = B * T
        let C = c.dModel, F = c.dFF, KV = c.kvDim, V = c.vocab, d = c.headDim
        let P = params
        let ashape = AttentionShape(batch: B, seq: T, heads: c.nHeads, kvHeads: c.nKVHeads, headDim: d)

        // x = tok_embeddings[tokens]                                   // (N, C)
        let x0 = res[0], emb = P + layout.tokEmb, toks = tokens
        pool.parallelFor(N) { lo, hi in
            for r in lo..<hi { memcpy(x0 + r * C, emb + Int(toks[r]) * C, C * 4) }
        }
        for l in 0..<c.nLayers {
            let L = layout.layers[l], a = acts[l]
            let xin = res[l], xout = res[l + 1]
            let xn1 = act(a.xn1), rstd1 = act(a.rstd1), q = act(a.q), k = act(a.k), v = act(a.v)
            let att = act(a.att), ao = act(a.ao), xMid = act(a.xMid)
            let xn2 = act(a.xn2), rstd2 = act(a.rstd2), gate = act(a.gate), up = act(a.up), hid = act(a.hid)
            // xn1 = rmsnorm(x) · attention_norm                         // (N, C)
            pool.parallelFor(N) { lo, hi in
                RMSNorm.forward(xin, P + L.attnNorm, xn1, rstd1, c: C, eps: c.normEps, rows: lo, hi)
            }
            // q = xn1 Wqᵀ (N, C); k, v = xn1 Wk/vᵀ (N, KV·d)
            pool.linearForward(xn1, P + L.wq, q, n: N, inDim: C, outDim: C)
            pool.linearForward(xn1, P + L.wk, k, n: N, inDim: C, outDim: KV)
            pool.linearForward(xn1, P + L.wv, v, n: N, inDim: C, outDim: KV)
            // RoPE on q and k at positions t = r mod T
            let rc = ropeCos, rsn = ropeSin
            pool.parallelFor(N) { lo, hi in
                for r in lo..<hi {
                    Rope.apply(q + r * C, heads: c.nHeads, headDim: d, pos: r % T, cos: rc, sin: rsn)
                    Rope.apply(k + r * KV, heads: c.nKVHeads, headDim: d, pos: r % T, cos: rc, sin: rsn)
                }
            }
            // ao = softmax(q kᵀ / √d + causal) v                       // att (B, H, T, T), ao (N, C)
            pool.parallelFor(ashape.units) { lo, hi in Attention.forward(ashape, q, k, v, att, ao, units: lo, hi) }
            // xMid = x + ao Woᵀ                                        // (N, C)
            memcpy(xMid, xin, N * C * 4)
            pool.sgemm(N, C, C, ao, C, 1, P + L.wo, 1, C, beta: 1, xMid, C, 1)
            // xn2 = rmsnorm(xMid) · ffn_norm
            pool.parallelFor(N) { lo, hi in
                RMSNorm.forward(xMid, P + L.mlpNorm, xn2, rstd2, c: C, eps: c.normEps, rows: lo, hi)
            }
            // gate, up = xn2 Wgateᵀ, xn2 Wupᵀ (N, F); hid = silu(gate) ⊙ up
            pool.linearForward(xn2, P + L.wGate, gate, n: N, inDim: C, outDim: F)
            pool.linearForward(xn2, P + L.wUp, up, n: N, inDim: C, outDim: F)
            pool.parallelFor(N * F) { lo, hi in SwiGLU.forward(gate, up, hid, lo, hi) }
            // x' = xMid + hid Wdownᵀ                                  // (N, C)
            memcpy(xout, xMid, N * C * 4)
            pool.sgemm(N, C, F, hid, F, 1, P + L.wDown, 1, F, beta: 1, xout, C, 1)
        }
        // xnF = rmsnorm(x_L) · norm; logits = xnF Wlmᵀ                  // (N, C), (N, V)
        let xL = res[c.nLayers], xnF = xnF, rstdF = rstdF
        pool.parallelFor(N) { lo, hi in
            RMSNorm.forward(xL, P + self.layout.finalNorm, xnF, rstdF, c: C, eps: c.normEps, rows: lo, hi)
        }
        pool.linearForward(xnF, P + layout.lmHead, logits, n: N, inDim: C, outDim: V)
        let lg = logits, tg = targets, lse = lse, lp = logp, ent: UnsafeMutablePointer<Float>? = withEntropy ? entropy : nil
        pool.parallelFor(N) { lo, hi in LMHead.forward(lg, vocab: V, tg, lse, lp, ent, rows: lo, hi) }
    }
}
