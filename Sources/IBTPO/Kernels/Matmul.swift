import CBLIS

/// Float32 matrix products on BLIS's typed expert API, always single-threaded inside BLIS;
/// parallelism comes from `ThreadPool`, which splits the output into row (or column) blocks.
/// Every matrix is a strided view: element (i, j) of A is `a[i*rsa + j*csa]`, so transposes
/// are free. No call reduces across threads, so results do not depend on the thread count.
public enum Matmul {
    /// C(m×n) = alpha·A(m×k)·B(k×n) + beta·C on the calling thread. m, n, k ≥ 0.
    @inline(__always)
    public static func sgemm(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                             _ a: UnsafePointer<Float>, _ rsa: Int, _ csa: Int,
                             _ b: UnsafePointer<Float>, _ rsb: Int, _ csb: Int,
                             beta: Float = 0,
                             _ c: UnsafeMutablePointer<Float>, _ rsc: Int, _ csc: Int) {
        if m == 0 || n == 0 { return }
        var al = alpha, be = beta
        var rntm = ibtpo_blis_rntm()
        ibtpo_blis_rntm_init(&rntm, 1)
        bli_sgemm_ex(0, 0, Int64(m), Int64(n), Int64(k), &al, a, Int64(rsa), Int64(csa),
                     b, Int64(rsb), Int64(csb), &be, c, Int64(rsc), Int64(csc), nil, &rntm)
    }
}

extension ThreadPool {
    /// Same contract as `Matmul.sgemm`, with C split into row tiles (column tiles when
    /// n > m) that the threads share. Small products run on the caller alone.
    ///
    /// BLIS's bits for a block of C depend on the block's size (its kernels and edge cases
    /// change with m), so the tiling depends only on the shape, never on the thread count:
    /// the same tiles are computed, one BLIS call each, whether 1 or 64 threads run them.
    public func sgemm(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                      _ a: UnsafePointer<Float>, _ rsa: Int, _ csa: Int,
                      _ b: UnsafePointer<Float>, _ rsb: Int, _ csb: Int,
                      beta: Float = 0,
                      _ c: UnsafeMutablePointer<Float>, _ rsc: Int, _ csc: Int) {
        let work = m * n * max(k, 1)
        if work < 64 * 64 * 64 {
            Matmul.sgemm(m, n, k, alpha: alpha, a, rsa, csa, b, rsb, csb, beta: beta, c, rsc, csc)
            return
        }
        // Up to ~16 tiles of a multiple of 16 rows (or columns) keep BLIS's micro-kernel busy.
        func tileSize(_ len: Int) -> Int { max(16, ((len + 15) / 16 + 15) / 16 * 16) }
        if m >= n {
            let tile = tileSize(m), tiles = (m + tile - 1) / tile
            parallelFor(tiles) { lo, hi in
                for t in lo..<hi {
                    let s = t * tile, e = min(m, s + tile)
                    Matmul.sgemm(e - s, n, k, alpha: alpha, a + s * rsa, rsa, csa, b, rsb, csb,
                                 beta: beta, c + s * rsc, rsc, csc)
                }
            }
        } else {
            let tile = tileSize(n), tiles = (n + tile - 1) / tile
            parallelFor(tiles) { lo, hi in
                for t in lo..<hi {
                    let s = t * tile, e = min(n, s + tile)
                    Matmul.sgemm(m, e - s, k, alpha: alpha, a, rsa, csa, b + s * csb, rsb, csb,
                                 beta: beta, c + s * csc, rsc, csc)
                }
            }
        }
    }

    /// y(n×out) = x(n×in) · Wᵀ, with W stored (out×in) row-major as in PyTorch's nn.Linear.
    @inline(__always)
    public func linearForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              _ y: UnsafeMutablePointer<Float>, n: Int, inDim: Int, outDim: Int) {
        sgemm(n, outDim, inDim, x, inDim, 1, w, 1, inDim, y, outDim, 1)
    }

    /// Backward of `linearForward`: dx (= or +=, per `accumulateDx`) dy·W and dW += dyᵀ·x.
    public func linearBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                               _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>,
                               n: Int, inDim: Int, outDim: Int, accumulateDx: Bool = false) {
        if let dx {
            sgemm(n, inDim, outDim, dy, outDim, 1, w, inDim, 1, beta: accumulateDx ? 1 : 0, dx, inDim, 1)
        }
        sgemm(outDim, inDim, n, dy, 1, outDim, x, inDim, 1, beta: 1, dw, inDim, 1)
    }
}
