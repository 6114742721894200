import CKernels

/// Float32 matrix products on BLIS's typed expert API, always single-threaded inside BLIS,
/// with the micro-kernel `MatmulKernel.current` (ours or BLIS's, chosen at run time);
/// parallelism comes from `ThreadPool`, which splits the output into row (or column) blocks.
/// Every matrix is a strided view: element (i, j) of A is `a[i*rsa + j*csa]`, so transposes
/// are free. Splits depend only on shapes, so results do not depend on the thread count.
public enum Matmul {
    /// C(m×n) = alpha·A(m×k)·B(k×n) + beta·C on the calling thread. m, n, k ≥ 0.
    @inline(__always)
    public static func sgemm(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                             _ a: UnsafePointer<Float>, _ rsa: Int, _ csa: Int,
                             _ b: UnsafePointer<Float>, _ rsb: Int, _ csb: Int,
                             beta: Float = 0,
                             _ c: UnsafeMutablePointer<Float>, _ rsc: Int, _ csc: Int) {
        if m == 0 || n == 0 { return }
        ibtpokern_sgemm(Int64(m), Int64(n), Int64(k), alpha, a, Int64(rsa), Int64(csa),
                       b, Int64(rsb), Int64(csb), beta, c, Int64(rsc), Int64(csc))
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
                      _ c: UnsafeMutablePointer<Float>, _ rsc: Int, _ csc: Int,
                      scratch: UnsafeMutablePointer<Float>? = nil, scratchCount: Int = 0) {
        let work = m * n * max(k, 1)
        if work < 64 * 64 * 64 {
            Matmul.sgemm(m, n, k, alpha: alpha, a, rsa, csa, b, rsb, csb, beta: beta, c, rsc, csc)
            return
        }
        // Deep products (weight gradients: k = tokens ≫ m, n) are split along k into a fixed
        // number of chunks: chunk 0 accumulates into C, chunks 1… into scratch, and the
        // partial sums are added to C in chunk order. Splitting m or n instead would make
        // every tile re-pack the whole other operand.
        let chunks = ThreadPool.kChunks(m: m, n: n, k: k)
        if chunks > 1, let scratch, scratchCount >= (chunks - 1) * m * n {
            run(chunks, GemmKSplitJob(m: m, n: n, k: k, chunks: chunks, alpha: alpha, a: a, rsa: rsa, csa: csa,
                                      b: b, rsb: rsb, csb: csb, beta: beta, c: c, rsc: rsc, csc: csc,
                                      scratch: scratch))
            run(m, GemmReduceJob(n: n, chunks: chunks, c: c, rsc: rsc, csc: csc, scratch: scratch, mn: m * n))
            return
        }
        // Up to ~16 tiles of a multiple of 16 rows (or columns) keep BLIS's micro-kernel busy.
        // Our kernel runs on BLIS's packed path, where every tile packs the whole other
        // operand: 4…16 tiles of about 512 rows instead (fewer repacks of the other operand). Tiles depend on the shape and
        // the kernel only, never on the thread count.
        let byRows = m >= n
        let len = byRows ? m : n
        let parts = MatmulKernel.current == .avx512 ? min(16, max(4, len / 512)) : 16
        let tile = max(16, ((len + parts - 1) / parts + 15) / 16 * 16)
        let tiles = (len + tile - 1) / tile
        run(tiles, GemmTilesJob(m: m, n: n, k: k, alpha: alpha, a: a, rsa: rsa, csa: csa, b: b, rsb: rsb, csb: csb,
                                beta: beta, c: c, rsc: rsc, csc: csc, tile: tile, byRows: byRows))
    }

    /// Number of k-chunks `sgemm` uses for a deep product (1 = no k split): about one per
    /// 512 of depth, at most 8, only when k ≥ 4·max(m, n).
    public static func kChunks(m: Int, n: Int, k: Int) -> Int {
        guard k >= 4 * max(m, n) else { return 1 }
        return max(1, min(8, k / 512))
    }

    /// y(n×out) = x(n×in) · Wᵀ, with W stored (out×in) row-major as in PyTorch's nn.Linear.
    @inline(__always)
    public func linearForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              _ y: UnsafeMutablePointer<Float>, n: Int, inDim: Int, outDim: Int) {
        sgemm(n, outDim, inDim, x, inDim, 1, w, 1, inDim, y, outDim, 1)
    }

    /// Backward of `linearForward`: dx (= or +=, per `accumulateDx`) dy·W and dW += dyᵀ·x.
    /// `scratch` (≥ 7·out·in floats) lets the weight gradient split along the tokens.
    public func linearBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                               _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>,
                               n: Int, inDim: Int, outDim: Int, accumulateDx: Bool = false,
                               scratch: UnsafeMutablePointer<Float>? = nil, scratchCount: Int = 0) {
        if let dx {
            sgemm(n, inDim, outDim, dy, outDim, 1, w, inDim, 1, beta: accumulateDx ? 1 : 0, dx, inDim, 1)
        }
        sgemm(outDim, inDim, n, dy, 1, outDim, x, inDim, 1, beta: 1, dw, inDim, 1,
              scratch: scratch, scratchCount: scratchCount)
    }
}

/// Tiles t in lo..<hi of an sgemm split along rows (or columns) into `tile`-sized blocks.
struct GemmTilesJob: ParallelJob {
    var m: Int, n: Int, k: Int, alpha: Float
    var a: UnsafePointer<Float>, rsa: Int, csa: Int, b: UnsafePointer<Float>, rsb: Int, csb: Int
    var beta: Float, c: UnsafeMutablePointer<Float>, rsc: Int, csc: Int, tile: Int, byRows: Bool
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = raw.assumingMemoryBound(to: GemmTilesJob.self).pointee
        for t in lo..<hi {
            let s = t * j.tile
            if j.byRows {
                let e = min(j.m, s + j.tile)
                Matmul.sgemm(e - s, j.n, j.k, alpha: j.alpha, j.a + s * j.rsa, j.rsa, j.csa, j.b, j.rsb, j.csb,
                             beta: j.beta, j.c + s * j.rsc, j.rsc, j.csc)
            } else {
                let e = min(j.n, s + j.tile)
                Matmul.sgemm(j.m, e - s, j.k, alpha: j.alpha, j.a, j.rsa, j.csa, j.b + s * j.csb, j.rsb, j.csb,
                             beta: j.beta, j.c + s * j.csc, j.rsc, j.csc)
            }
        }
    }
}

/// Chunk q of a k-split product: C (q = 0, with beta) or scratch[(q−1)·m·n …] (beta 0,
/// row-major m×n) receives alpha·A[:, kq]·B[kq, :].
struct GemmKSplitJob: ParallelJob {
    var m: Int, n: Int, k: Int, chunks: Int, alpha: Float
    var a: UnsafePointer<Float>, rsa: Int, csa: Int, b: UnsafePointer<Float>, rsb: Int, csb: Int
    var beta: Float, c: UnsafeMutablePointer<Float>, rsc: Int, csc: Int, scratch: UnsafeMutablePointer<Float>
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = raw.assumingMemoryBound(to: GemmKSplitJob.self).pointee
        for q in lo..<hi {
            let (s, e) = ThreadPool.chunk(j.k, j.chunks, q)
            let aq = j.a + s * j.csa, bq = j.b + s * j.rsb
            if q == 0 {
                Matmul.sgemm(j.m, j.n, e - s, alpha: j.alpha, aq, j.rsa, j.csa, bq, j.rsb, j.csb, beta: j.beta,
                             j.c, j.rsc, j.csc)
            } else {
                Matmul.sgemm(j.m, j.n, e - s, alpha: j.alpha, aq, j.rsa, j.csa, bq, j.rsb, j.csb, beta: 0,
                             j.scratch + (q - 1) * j.m * j.n, j.n, 1)
            }
        }
    }
}

/// Rows lo..<hi of C += scratch chunk 1 + chunk 2 + … (in chunk order).
struct GemmReduceJob: ParallelJob {
    var n: Int, chunks: Int, c: UnsafeMutablePointer<Float>, rsc: Int, csc: Int
    var scratch: UnsafeMutablePointer<Float>, mn: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = raw.assumingMemoryBound(to: GemmReduceJob.self).pointee
        for i in lo..<hi {
            let row = j.c + i * j.rsc
            for q in 1..<j.chunks {
                let src = j.scratch + (q - 1) * j.mn + i * j.n
                for col in 0..<j.n { row[col * j.csc] += src[col] }
            }
        }
    }
}

extension ThreadPool {
    /// y (m × n, row stride ldy) = x (m × k, row stride ldx) · wᵀ, plus beta·y when beta ≠ 0,
    /// for a row-major weight w (n × k, row stride ldw) read in place: no packing, each weight
    /// row read once from memory for all m rows (`ibtpokern_sgemm_nt_stream`). For decoding,
    /// where m is a few tokens and a packed product would copy the weights on every call.
    /// The threads share blocks of 4 columns; every element is computed the same way
    /// whatever the split, so the bits do not depend on the thread count.
    public func sgemmNTStream(_ m: Int, _ n: Int, _ k: Int, _ x: UnsafePointer<Float>, _ ldx: Int,
                              _ w: UnsafePointer<Float>, _ ldw: Int, beta: Float = 0,
                              _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        if m <= 0 || n <= 0 { return }
        let job = StreamGemmJob(impl: ThreadPool.streamImpl, m: m, n: n, k: k, x: x, ldx: ldx, w: w, ldw: ldw,
                                beta: beta, y: y, ldy: ldy)
        let blocks = (n + 3) / 4
        if m * n * max(k, 1) < 1 << 17 || width == 1 {
            withUnsafePointer(to: job) { StreamGemmJob.entry(UnsafeRawPointer($0), 0, blocks) }
        } else {
            run(blocks, job)
        }
    }

    /// The streaming kernel's implementation (2 AVX-512F, 1 AVX2+FMA, 0 portable), read at
    /// each call: it follows the sgemm kernel in use (`MatmulKernel.select`).
    static var streamImpl: Int32 { ibtpokern_stream_impl() }
}

/// Blocks lo..<hi of 4 columns of `ThreadPool.sgemmNTStream`.
struct StreamGemmJob: ParallelJob {
    var impl: Int32, m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int
    var beta: Float, y: UnsafeMutablePointer<Float>, ldy: Int
    static let entry: ThreadPool.Entry = { raw, lo, hi in
        let j = raw.assumingMemoryBound(to: StreamGemmJob.self).pointee
        ibtpokern_sgemm_nt_stream(j.impl, Int64(j.m), Int64(j.n), Int64(lo * 4), Int64(min(j.n, hi * 4)), Int64(j.k),
                                  j.x, Int64(j.ldx), j.w, Int64(j.ldw), j.beta, j.y, Int64(j.ldy))
    }
}
