extension Model {
    /// Global L2 norm of `grads`. Partial sums over fixed 4096-element chunks are added in
    /// chunk order, so the result is the same for every thread count.
    public func gradNorm() -> Float {
        let n = layout.count, chunk = Model.reduceChunk
        let chunks = (n + chunk - 1) / chunk
        pool.run(chunks, SumSquaresJob(g: grads, n: n, chunk: chunk, partials: partials))
        var total = 0.0
        for ci in 0..<chunks { total += partials[ci] }
        return Float(total.squareRoot())
    }

    /// One AdamW step at 1-based step `t` with learning rate `lr`, after clipping the global
    /// gradient norm to `clip` (no clipping when clip ≤ 0). `norm` is the gradient norm if the
    /// caller already computed it (`gradNorm()`), so it is not reduced twice. Returns the
    /// pre-clip norm. A non-finite norm leaves the parameters untouched and is returned as is.
    @discardableResult
    public func adamwStep(t: Int, lr: Float, hyper: AdamWHyper, clip: Float, norm known: Float? = nil) -> Float {
        let norm = known ?? gradNorm()
        if !norm.isFinite { return norm }
        let scale: Float = (clip > 0 && norm > clip) ? clip / norm : 1
        let c1 = 1 - Float(_pow(Double(hyper.beta1), Double(t)))
        let c2 = 1 - Float(_pow(Double(hyper.beta2), Double(t)))
        for tensor in layout.tensors {
            let off = tensor.offset
            pool.run(tensor.count, AdamWJob(p: params + off, g: grads + off, m: adamM + off, v: adamV + off, lr: lr,
                                            hyper: hyper, decay: tensor.decay, c1: c1, c2: c2, scale: scale))
        }
        return norm
    }
}
