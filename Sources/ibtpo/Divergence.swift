import ArgumentParser
import Glibc

/// The CLI's divergence policy (issue 12). The core skips an optimiser update whose loss or
/// gradient is not finite (nothing changes) and counts it; here a run stops after
/// `--max-skipped-steps` consecutive steps with skips, with exit status 13 and the last
/// checkpoint written before them left as it is (nothing non-finite is ever saved). A loss
/// spike (loss > `--warn-loss-ratio` × its running average) and, for RL, a KL above `--warn-kl`
/// print one warning line each per run.
struct DivergenceOptions: ParsableArguments {
    @Option(help: "Stop (exit status 13) after this many consecutive steps whose update was skipped for a non-finite loss or gradient.")
    var maxSkippedSteps: Int = 5
    @Option(help: "Warn once when a step's loss exceeds this multiple of its running average (0 = never).")
    var warnLossRatio: Double = 4
    @Option(help: "train: warn once when the KL to the reference policy exceeds this (0 = never).")
    var warnKl: Double = 1

    func validate() throws {
        guard maxSkippedSteps >= 1 else { throw ValidationError("--max-skipped-steps must be ≥ 1") }
        guard warnLossRatio >= 0 && warnLossRatio.isFinite, warnKl >= 0 && warnKl.isFinite else {
            throw ValidationError("--warn-loss-ratio and --warn-kl must be finite and ≥ 0")
        }
    }
}

/// Exit status of a run stopped by the divergence policy.
let divergedExitStatus: Int32 = 13

struct DivergenceGuard {
    let opts: DivergenceOptions
    var consecutive = 0, total = 0
    var avgLoss = 0.0, seen = 0
    var warnedLoss = false, warnedKL = false

    init(_ o: DivergenceOptions) { opts = o }

    /// Records one step; `skipped` is whether any update of it was skipped. Throws the
    /// diverged exit after `maxSkippedSteps` skipped steps in a row.
    mutating func record(step: Int, skipped: Bool, loss: Double, kl: Double? = nil, out: String) throws {
        if skipped {
            consecutive += 1; total += 1
            fputs("warning: step \(step): non-finite loss or gradient, update skipped "
                + "(\(consecutive) in a row, \(total) in this run)\n", stderr)
            if consecutive >= opts.maxSkippedSteps {
                fputs("error: \(consecutive) consecutive skipped steps: the run diverged; stopping without saving "
                    + "(the last checkpoint in \(out), if any, is the last good state). Lower --lr or raise --grad-clip.\n", stderr)
                throw ExitCode(divergedExitStatus)
            }
            return
        }
        consecutive = 0
        if loss.isFinite {
            if seen >= 5 && opts.warnLossRatio > 0 && !warnedLoss && avgLoss > 0 && loss > opts.warnLossRatio * avgLoss {
                warnedLoss = true
                fputs("warning: step \(step): loss \(loss) is \(String(Double(Int(loss / avgLoss * 10)) / 10))× its running average "
                    + "\(avgLoss) (--warn-loss-ratio \(opts.warnLossRatio)); the run may be diverging\n", stderr)
            }
            avgLoss = seen == 0 ? loss : 0.9 * avgLoss + 0.1 * loss
            seen += 1
        }
        if let kl, kl.isFinite, opts.warnKl > 0, !warnedKL, kl > opts.warnKl {
            warnedKL = true
            fputs("warning: step \(step): KL to the reference policy \(kl) exceeds --warn-kl \(opts.warnKl)\n", stderr)
        }
    }
}
