import XCTest
@testable import IBTPO

/// Worst error seen by a comparison, and where. `see` takes the error already normalised
/// (callers decide between relative, relative-with-floor and magnitude-normalised); a NaN
/// error counts as infinitely bad.
struct Worst: CustomStringConvertible {
    let name: String
    var err = 0.0
    var at = "(nothing compared)"
    var got = 0.0, want = 0.0
    var count = 0

    init(_ name: String) { self.name = name }

    /// Records |got − want| / denom.
    mutating func see(_ got: Double, _ want: Double, denom: Double, _ at: @autoclosure () -> String) {
        count += 1
        var e = abs(got - want) / denom
        if e.isNaN { e = got.isNaN && want.isNaN ? 0 : .infinity }
        if got == want { e = 0 }   // covers ±inf == ±inf
        if count == 1 || e > err { err = e; self.at = at(); self.got = got; self.want = want }
    }

    /// Records |got − want| / max(floor, |want|).
    mutating func rel(_ got: Double, _ want: Double, floor: Double, _ at: @autoclosure () -> String) {
        see(got, want, denom: max(floor, abs(want)), at())
    }

    /// Records |a − b| / max(floor, |a| + |b|) (the gradient-check metric).
    mutating func sym(_ got: Double, _ want: Double, floor: Double, _ at: @autoclosure () -> String) {
        see(got, want, denom: max(floor, abs(got) + abs(want)), at())
    }

    mutating func merge(_ o: Worst) {
        guard o.count > 0 else { return }
        if count == 0 || o.err > err { err = o.err; at = "\(o.name): \(o.at)"; got = o.got; want = o.want }
        count += o.count
    }

    var description: String {
        "[\(name)] worst error \(String(format: "%.3e", err)) at \(at) (got \(got), want \(want)) over \(count) values"
    }

    /// Prints the summary and asserts err < tol.
    func check(_ tol: Double, file: StaticString = #filePath, line: UInt = #line) {
        print(description)
        XCTAssertGreaterThan(count, 0, "\(name): nothing was compared", file: file, line: line)
        XCTAssertLessThan(err, tol, description, file: file, line: line)
    }
}

/// Float buffer of `n` values, each `scale`·N(0,1) from `rng` (zero when scale is 0).
func randomFloats(_ n: Int, _ rng: inout Rng, scale: Float = 1) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
    for i in 0..<n { p[i] = scale == 0 ? 0 : rng.nextGaussian() * scale }
    return p
}

func filledFloats(_ n: Int, _ v: Float) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
    p.initialize(repeating: v, count: max(n, 1))
    return p
}

func copyFloats(_ src: UnsafePointer<Float>, _ n: Int) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
    p.initialize(from: src, count: n)
    return p
}

/// Monotonic wall clock in seconds.
func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
