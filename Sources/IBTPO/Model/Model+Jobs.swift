import Glibc

// Parallel jobs of the training step: argument structs with C entry points, dispatched
// by `ThreadPool.run` without allocating. Each entry runs one kernel over rows (or
// elements, units, columns) lo..<hi.


struct EmbedJob: ParallelJob {
    var x: FPtr, emb: FPtr, tokens: UnsafeMutablePointer<Int32>, c: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, EmbedJob.self)
        for r in lo..<hi { memcpy(j.x + r * j.c, j.emb + Int(j.tokens[r]) * j.c, j.c * 4) }
    }
}

struct RMSForwardJob: ParallelJob {
    var x: FPtr, w: FPtr, y: FPtr, rstd: FPtr, c: Int, eps: Float
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, RMSForwardJob.self)
        RMSNorm.forward(j.x, j.w, j.y, j.rstd, c: j.c, eps: j.eps, rows: lo, hi)
    }
}

struct RMSBackInputJob: ParallelJob {
    var dy: FPtr, x: FPtr, w: FPtr, rstd: FPtr, dx: FPtr, c: Int, accumulate: Bool
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, RMSBackInputJob.self)
        RMSNorm.backwardInput(j.dy, j.x, j.w, j.rstd, j.dx, c: j.c, rows: lo, hi, accumulate: j.accumulate)
    }
}

struct RMSBackWeightJob: ParallelJob {
    var dy: FPtr, x: FPtr, rstd: FPtr, dw: FPtr, c: Int, rows: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, RMSBackWeightJob.self)
        RMSNorm.backwardWeight(j.dy, j.x, j.rstd, j.dw, c: j.c, rows: j.rows, cols: lo, hi)
    }
}

/// RoPE on rows of q (heads × d) and k (kvHeads × d); row r is at position r mod seq.
struct RopeJob: ParallelJob {
    var q: FPtr, k: FPtr, heads: Int, kvHeads: Int, d: Int, seq: Int, cos: FPtr, sin: FPtr, inverse: Bool
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, RopeJob.self)
        let qs = j.heads * j.d, ks = j.kvHeads * j.d
        for r in lo..<hi {
            Rope.apply(j.q + r * qs, heads: j.heads, headDim: j.d, pos: r % j.seq, cos: j.cos, sin: j.sin, inverse: j.inverse)
            Rope.apply(j.k + r * ks, heads: j.kvHeads, headDim: j.d, pos: r % j.seq, cos: j.cos, sin: j.sin, inverse: j.inverse)
        }
    }
}

struct AttentionForwardJob: ParallelJob {
    var s: AttentionShape, q: FPtr, k: FPtr, v: FPtr, p: FPtr, o: FPtr
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, AttentionForwardJob.self)
        Attention.forward(j.s, j.q, j.k, j.v, j.p, j.o, units: lo, hi)
    }
}

struct AttentionBackwardJob: ParallelJob {
    var s: AttentionShape, q: FPtr, k: FPtr, v: FPtr, p: FPtr, dout: FPtr, dp: FPtr, dq: FPtr, dk: FPtr, dv: FPtr
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, AttentionBackwardJob.self)
        Attention.backward(j.s, j.q, j.k, j.v, j.p, j.dout, j.dp, j.dq, j.dk, j.dv, units: lo, hi)
    }
}

struct SwiGLUForwardJob: ParallelJob {
    var g: FPtr, u: FPtr, h: FPtr
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, SwiGLUForwardJob.self)
        SwiGLU.forward(j.g, j.u, j.h, lo, hi)
    }
}

struct SwiGLUBackwardJob: ParallelJob {
    var dh: FPtr, g: FPtr, u: FPtr, dg: FPtr, du: FPtr
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, SwiGLUBackwardJob.self)
        SwiGLU.backward(j.dh, j.g, j.u, j.dg, j.du, lo, hi)
    }
}

struct LMHeadForwardJob: ParallelJob {
    var logits: FPtr, vocab: Int, targets: UnsafeMutablePointer<Int32>, lse: FPtr, logp: FPtr, entropy: FPtr?
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, LMHeadForwardJob.self)
        LMHead.forward(j.logits, vocab: j.vocab, j.targets, j.lse, j.logp, j.entropy, rows: lo, hi)
    }
}

struct LMHeadBackwardJob: ParallelJob {
    var logits: FPtr, vocab: Int, targets: UnsafeMutablePointer<Int32>, lse: FPtr, coef: FPtr
    var entCoef: UnsafePointer<Float>?, entropy: UnsafePointer<Float>?
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, LMHeadBackwardJob.self)
        LMHead.backward(j.logits, vocab: j.vocab, j.targets, j.lse, j.coef, j.entCoef, j.entropy, rows: lo, hi)
    }
}

struct ZeroJob: ParallelJob {
    var p: FPtr
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, ZeroJob.self)
        memset(j.p + lo, 0, (hi - lo) * 4)
    }
}

/// Sum of squares over fixed chunks of `chunk` elements; chunk i's sum goes to partials[i].
struct SumSquaresJob: ParallelJob {
    var g: FPtr, n: Int, chunk: Int, partials: UnsafeMutablePointer<Double>
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, SumSquaresJob.self)
        for ci in lo..<hi {
            let s = ci * j.chunk, e = min(j.n, s + j.chunk)
            var acc = SIMD8<Float>()
            var i = s
            while i + 8 <= e {
                let v = UnsafeRawPointer(j.g + i).loadUnaligned(as: SIMD8<Float>.self)
                acc.addProduct(v, v)
                i += 8
            }
            var t = Double(acc.sum())
            while i < e { t += Double(j.g[i] * j.g[i]); i += 1 }
            j.partials[ci] = t
        }
    }
}

struct AdamWJob: ParallelJob {
    var p: FPtr, g: FPtr, m: FPtr, v: FPtr, lr: Float, hyper: AdamWHyper, decay: Bool, c1: Float, c2: Float, scale: Float
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, AdamWJob.self)
        AdamW.update(j.p, j.g, j.m, j.v, lo, hi, lr: j.lr, hyper: j.hyper, decay: j.decay, c1: j.c1, c2: j.c2,
                     gradScale: j.scale)
    }
}

/// Rows lo..<hi of y (row stride ld): y[r, 0..<n] += b[0..<n] (the q/k/v biases).
struct BiasAddJob: ParallelJob {
    var y: FPtr, ld: Int, b: FPtr, n: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, BiasAddJob.self)
        for r in lo..<hi {
            let row = j.y + r * j.ld
            for i in 0..<j.n { row[i] += j.b[i] }
        }
    }
}

/// Column blocks lo..<hi (of `block` columns each) of db[0..<n] += Σ_r dy[r, ·] over the
/// `rows` rows of dy (row stride n), summed in row order: the result does not depend on
/// the thread count.
struct BiasGradJob: ParallelJob {
    static let block = 64
    var dy: FPtr, db: FPtr, n: Int, rows: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = job(raw, BiasGradJob.self)
        for blk in lo..<hi {
            let c0 = blk * block, c1 = min(j.n, c0 + block)
            for r in 0..<j.rows {
                let row = j.dy + r * j.n
                for i in c0..<c1 { j.db[i] += row[i] }
            }
        }
    }
}
