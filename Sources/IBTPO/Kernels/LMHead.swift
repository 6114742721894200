/// The log-softmax head over logits (rows × V). The forward stores each row's
/// log-sum-exp; the backward turns per-token coefficients into logit gradients in place.
///
/// The loss interface is general so that any token-level objective can sit on top:
/// the caller supplies c[r] = ∂L/∂log p(target_r) and, optionally, e[r] = ∂L/∂H_r where
/// H_r is the entropy of row r. Cross-entropy with weights w is c = −w, e = nil.
public enum LMHead {
    /// For rows r0..<r1: lse[r] = log Σ exp(logits[r,:]); logp[r] = logits[r, target[r]] − lse[r];
    /// entropy[r] (if given) = lse − Σ p·logit.
    public static func forward(_ logits: UnsafePointer<Float>, vocab V: Int, _ targets: UnsafePointer<Int32>,
                               _ lse: UnsafeMutablePointer<Float>, _ logp: UnsafeMutablePointer<Float>,
                               _ entropy: UnsafeMutablePointer<Float>?, rows r0: Int, _ r1: Int) {
        for r in r0..<r1 {
            let row = logits + r * V
            var m = -Float.infinity
            for j in 0..<V where row[j] > m { m = row[j] }
            let mv = SIMD8<Float>(repeating: m)
            var acc = SIMD8<Float>(), accx = SIMD8<Float>()
            var j = 0
            while j + 8 <= V {
                let x = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
                let e = simdExp(x - mv)
                acc += e
                accx.addProduct(e, x)
                j += 8
            }
            var sum = acc.sum(), sumx = accx.sum()
            while j < V { let e = fastExp(row[j] - m); sum += e; sumx += e * row[j]; j += 1 }
            let l = m + Float(_log(Double(sum)))
            lse[r] = l
            let t = Int(targets[r])
            logp[r] = (t >= 0 && t < V) ? row[t] - l : 0
            if let entropy { entropy[r] = l - sumx / sum }
        }
    }

    /// In place for rows r0..<r1: logits[r,j] ← c[r]·(1[j=t] − p_j) + e[r]·(−p_j·(log p_j + H_r)).
    public static func backward(_ logits: UnsafeMutablePointer<Float>, vocab V: Int, _ targets: UnsafePointer<Int32>,
                                _ lse: UnsafePointer<Float>, _ coef: UnsafePointer<Float>,
                                _ entCoef: UnsafePointer<Float>?, _ entropy: UnsafePointer<Float>?,
                                rows r0: Int, _ r1: Int) {
        for r in r0..<r1 {
            let row = logits + r * V
            // logp is the constant 0 on rows without a target, so their coef has no gradient.
            let t = Int(targets[r])
            let c = (t >= 0 && t < V) ? coef[r] : 0
            let e = entCoef?[r] ?? 0
            if c == 0 && e == 0 {
                for j in 0..<V { row[j] = 0 }
                continue
            }
            let l = lse[r]
            let h = entropy?[r] ?? 0
            let lv = SIMD8<Float>(repeating: l), cv = SIMD8<Float>(repeating: -c)
            var j = 0
            if e == 0 {
                while j + 8 <= V {
                    let x = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(row + j).storeBytes(of: cv * simdExp(x - lv), as: SIMD8<Float>.self)
                    j += 8
                }
                while j < V { row[j] = -c * fastExp(row[j] - l); j += 1 }
            } else {
                for jj in 0..<V {
                    let lp = row[jj] - l
                    let pj = fastExp(lp)
                    row[jj] = -c * pj - e * pj * (lp + h)
                }
            }
            if t >= 0 && t < V { row[t] += c }
        }
    }
}
