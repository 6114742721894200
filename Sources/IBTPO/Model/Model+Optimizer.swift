extension Model {
    /// Global L2 norm of `grads`. Partial sums over fixed 4096-element chunks are added in
    /// chunk order, so the result is the same for every thread count.
    public func gradNorm() -> Float {
        let n = layout.count, chunk = Model.reduceChunk
        let chunks = (n + chunk - 1) / chunk
        let g = grads, part = partials
        pool.parallelFor(chunks) { lo, hi in
            for ci in lo..<hi {
                let s = ci * chunk, e = min(n, s + chunk)
                var acc = SIMD8<Float>()
                var i = s
                while i + 8 <= e {
                    let v = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
                    acc.addProduct(v, v)
                    i += 8
                }
                var t = Double(acc.sum())
                while i < e { t += Double(g[i] * g[i]); i += 1 }
                part[ci] = t
            }
        }
        var total = 0.0
        for ci in 0..<chunks { total += part[ci] }
        return Float(total.squareRoot())
    }

    /// One AdamW step at 1-based step `t` with learning rate `lr`, after clipping the global
    /// gradient norm to `clip` (no clipping when clip ≤ 0). Returns the pre-clip norm.
    /// A non-finite gradient norm leaves the parameters untouched and is returned as is.
    @discardableResult
    public func adamwStep(t: Int, lr: Float, hyper: AdamWHyper, clip: Float) -> Float {
        let norm = gradNorm()
        if !norm.isFinite { return norm }
        let scale: Float = (clip > 0 && norm > clip) ? clip / norm : 1
        let c1 = 1 - Float(_pow(Double(hyper.beta1), Double(t)))
        let c2 = 1 - Float(_pow(Double(hyper.beta2), Double(t)))
        let p = params, g = grads, m = adamM, v = adamV
        for tensor in layout.tensors {
            let off = tensor.offset, decay = tensor.decay
            pool.parallelFor(tensor.count) { lo, hi in
                AdamW.update(p + off, g + off, m + off, v + off, lo, hi, lr: lr, hyper: hyper, decay: decay,
                             c1: c1, c2: c2, gradScale: scale)
            }
        }
        return norm
    }
}
