import CKernels

/// The sgemm micro-kernel behind `Matmul`: BLIS's own choice for the CPU, or ours plugged
/// into BLIS's framework through a context (BLIS keeps blocking and packing). Chosen once
/// per process by cpuid (see docs/kernels.md for the rule); `IBTPO_KERNEL=auto|blis|avx512`
/// overrides it, and an unknown or unsupported value leaves the automatic choice in place
/// with a warning (never a trap).
///
/// Results are bit-identical across thread counts and runs for a given kernel; different
/// kernels round differently (same error bound, different bits).
public enum MatmulKernel: Int32, CaseIterable, Sendable {
    case auto = 0
    case blis = 1
    case avx512 = 2

    /// Short name as accepted by IBTPO_KERNEL: "auto", "blis", "avx512".
    public var name: String { String(cString: ibtpokern_kernel_id_name(rawValue)) }

    /// The kernel with this IBTPO_KERNEL name, or nil.
    public init?(name: String) {
        guard let k = MatmulKernel.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }

    /// Whether this CPU and OS can run the kernel (auto and blis: always).
    public var isSupported: Bool { ibtpokern_kernel_supported(rawValue) != 0 }

    /// The kernel in use (never `.auto`).
    public static var current: MatmulKernel { MatmulKernel(rawValue: ibtpokern_kernel_current()) ?? .blis }

    /// What the selection rule picks on this CPU (never `.auto`).
    public static var automatic: MatmulKernel { MatmulKernel(rawValue: ibtpokern_auto_kernel()) ?? .blis }

    /// Forces `kernel` for every later product in the process; false (nothing changed) if
    /// the CPU cannot run it. Call it while no other thread multiplies.
    @discardableResult
    public static func select(_ kernel: MatmulKernel) -> Bool { ibtpokern_kernel_select(kernel.rawValue) == 0 }

    /// The kernel in use, for people: e.g. "avx512 16x24 (ours)" or "zen3 (BLIS)".
    public static var description: String { String(cString: ibtpokern_kernel_description()) }

    /// The warning IBTPO_KERNEL left (unknown or unsupported value), or nil.
    public static var warning: String? { ibtpokern_kernel_warning().map { String(cString: $0) } }

    /// The CPU as cpuid reports it, e.g. "AuthenticAMD family 25 model 17".
    public static var cpu: String {
        "\(String(cString: ibtpokern_cpu_vendor())) family \(ibtpokern_cpu_family()) model \(ibtpokern_cpu_model())"
    }
}

/// The CPU's measured fp32 FMA peak.
public enum FMAPeak {
    /// Widest FMA width in bits the CPU and OS run (512, 256), or 0.
    public static var width: Int { Int(ibtpokern_fma_width()) }

    /// GFLOP/s of an FMA loop with independent accumulators at `width` bits, run on every
    /// worker of `pool` at once (best of `repeats` runs of ~`seconds` each); 0 without FMA.
    public static func measure(pool: ThreadPool, width: Int = FMAPeak.width, seconds: Double = 0.2,
                               repeats: Int = 3) -> Double {
        guard width > 0, ibtpokern_fma_loop(Int32(width), 1, nil) > 0 else { return 0 }
        // Calibrate iterations on one thread to about `seconds`.
        var iters: Int64 = 1 << 16
        while true {
            let t0 = monotonicSeconds()
            _ = ibtpokern_fma_loop(Int32(width), iters, nil)
            let dt = monotonicSeconds() - t0
            if dt > seconds / 8 || iters > (1 << 40) {
                iters = Int64(Double(iters) * seconds / max(dt, 1e-9))
                break
            }
            iters *= 4
        }
        var best = 0.0
        let w = pool.width
        for _ in 0..<max(1, repeats) {
            let t0 = monotonicSeconds()
            let it = iters, wd = Int32(width)
            pool.parallelFor(w) { lo, hi in
                for _ in lo..<hi { _ = ibtpokern_fma_loop(wd, it, nil) }
            }
            let dt = monotonicSeconds() - t0
            let flops = ibtpokern_fma_loop(wd, 1, nil) * Double(iters) * Double(w)
            best = max(best, flops / dt / 1e9)
        }
        return best
    }
}
