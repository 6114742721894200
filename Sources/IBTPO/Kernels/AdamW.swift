/// Decoupled-weight-decay Adam (Loshchilov & Hutter) on a flat range of parameters.
public struct AdamWHyper: Equatable, Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0.0
    public init() {}
}

public enum AdamW {
    /// For i in lo..<hi: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
    /// p ← p − lr·( m̂/(√v̂ + eps) + wd·p ), with bias corrections c1 = 1−β1^t, c2 = 1−β2^t.
    @inline(__always)
    public static func update(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                              _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                              _ lo: Int, _ hi: Int, lr: Float, hyper h: AdamWHyper, decay: Bool,
                              c1: Float, c2: Float, gradScale: Float) {
        let wd = decay ? h.weightDecay : 0
        let b1 = h.beta1, b2 = h.beta2
        for i in lo..<hi {
            let gi = g[i] * gradScale
            let mi = b1 * m[i] + (1 - b1) * gi
            let vi = b2 * v[i] + (1 - b2) * gi * gi
            m[i] = mi
            v[i] = vi
            let mhat = mi / c1, vhat = vi / c2
            p[i] -= lr * (mhat / (vhat.squareRoot() + h.eps) + wd * p[i])
        }
    }
}

/// Warmup + cosine learning-rate schedule: linear from lr/warmup… to lr over `warmup`
/// steps, then cosine down to `minLR` at `total` steps, constant after.
public struct LRSchedule: Equatable, Sendable {
    public var lr: Float
    public var minLR: Float
    public var warmup: Int
    public var total: Int
    public init(lr: Float, minLR: Float = 0, warmup: Int = 0, total: Int = 0) {
        self.lr = lr; self.minLR = minLR; self.warmup = warmup; self.total = total
    }

    /// Learning rate for 0-based step `step`.
    public func at(_ step: Int) -> Float {
        if warmup > 0 && step < warmup { return lr * Float(step + 1) / Float(warmup) }
        if total <= warmup { return lr }
        let t = min(1.0, Double(step - warmup) / Double(max(1, total - warmup)))
        return minLR + (lr - minLR) * Float(0.5 * (1 + _cos(Double.pi * t)))
    }
}
