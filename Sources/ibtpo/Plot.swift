import ArgumentParser
import Glibc
import IBTPO

/// `ibtpo plot`: training curves of one or more `ibtpo train --log` files as one standalone SVG.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the training curves of one or more runs (JSON Lines logs of 'ibtpo train') as an SVG.")
    @OptionGroup var configOpts: ConfigOptions
    @Argument(help: "Log files written by 'ibtpo train --log'.") var logs: [String]
    @Option(help: "Output SVG file.") var out: String = "runs/curves.svg"
    @Option(help: "X axis: step or tokens (generated tokens, for matched-budget comparisons).") var x: String = "step"
    @Option(help: "Moving-average window over steps (1 = raw).") var smooth: Int = 1

    static let panels: [(key: String, title: String)] = [
        ("avg_rate", "reward (Avg-Rate)"), ("eff_rate", "Eff-Rate"), ("entropy", "token entropy"),
        ("ib_score", "IB-Score"), ("ib_cov", "Cov(η1, η2)"), ("eval_avg_at_k", "held-out avg@k"),
        ("kl", "KL to reference"), ("generated_tokens_total", "generated tokens"), ("eval_greedy", "held-out greedy"),
    ]
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    func run() throws {
        try reportingErrors {
            guard !logs.isEmpty else { throw ValidationError("give at least one log file") }
            guard x == "step" || x == "tokens" else { throw ValidationError("--x must be step or tokens") }
            guard smooth >= 1 else { throw ValidationError("--smooth must be ≥ 1") }
            var runs: [(name: String, rows: [[String: Double]])] = []
            for path in logs {
                let rows = try TrainingLog.rows(path)
                runs.append((String(path.split(separator: "/").last ?? Substring(path)), rows))
            }
            let svg = render(runs)
            try makeDirectories(parentDirectory(out))
            try FileIO.writeAtomically(out, Array(svg.utf8))
            print("wrote \(out): \(runs.count) run(s), \(Plot.panels.count) panels, x = \(x)")
        }
    }

    func render(_ runs: [(name: String, rows: [[String: Double]])]) -> String {
        let pw = 300.0, ph = 190.0, cols = 3, margin = 44.0, top = 46.0
        let rowsN = (Plot.panels.count + cols - 1) / cols
        let width = Double(cols) * (pw + margin) + margin, height = top + 14 + Double(rowsN) * (ph + margin) + 30
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        // Runs named <group>-s<seed>.jsonl share their group's colour (seeds of one method);
        // the legend lists groups, wrapping as needed.
        var groups: [String] = []
        let groupOf = runs.map { r -> String in
            var g = r.name
            if g.hasSuffix(".jsonl") { g = String(g.dropLast(6)) }
            if let dash = g.lastIndex(of: "-"), g[g.index(after: dash)...].first == "s",
               Int(g[g.index(dash, offsetBy: 2)...]) != nil { g = String(g[..<dash]) }
            if !groups.contains(g) { groups.append(g) }
            return g
        }
        let colorOf = runs.indices.map { Plot.colors[(groups.firstIndex(of: groupOf[$0]) ?? 0) % Plot.colors.count] }
        for (i, g) in groups.enumerated() {
            let c = Plot.colors[i % Plot.colors.count]
            let lx = margin + Double(i % 4) * 240, ly = 14.0 + Double(i / 4) * 14
            let seeds = groupOf.filter { $0 == g }.count
            s += "<line x1=\"\(lx)\" y1=\"\(ly)\" x2=\"\(lx + 24)\" y2=\"\(ly)\" stroke=\"\(c)\" stroke-width=\"2.5\"/>"
            s += "<text x=\"\(lx + 30)\" y=\"\(ly + 4)\">\(escape(g))\(seeds > 1 ? " (\(seeds) runs)" : "")</text>\n"
        }
        for (pi, panel) in Plot.panels.enumerated() {
            let ox = margin + Double(pi % cols) * (pw + margin), oy = top + 14 + Double(pi / cols) * (ph + margin)
            var series: [[(Double, Double)]] = []
            for r in runs {
                var pts: [(Double, Double)] = []
                for row in r.rows {
                    guard let y = row[panel.key], let xv = x == "step" ? row["step"] : row["generated_tokens_total"] else { continue }
                    pts.append((xv, y))
                }
                // Held-out evaluations are sparse points: drawn as measured, never averaged.
                series.append(panel.key.hasPrefix("eval_") ? pts : movingAverage(pts))
            }
            let all = series.flatMap { $0 }
            s += "<rect x=\"\(ox)\" y=\"\(oy)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#999\"/>\n"
            s += "<text x=\"\(ox + pw / 2)\" y=\"\(oy - 6)\" text-anchor=\"middle\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
            guard let x0 = all.map({ $0.0 }).min(), let x1 = all.map({ $0.0 }).max(),
                  var y0 = all.map({ $0.1 }).min(), var y1 = all.map({ $0.1 }).max() else {
                s += "<text x=\"\(ox + pw / 2)\" y=\"\(oy + ph / 2)\" text-anchor=\"middle\" fill=\"#999\">no data</text>\n"
                continue
            }
            if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
            let pad = (y1 - y0) * 0.05
            y0 -= pad; y1 += pad
            let dx = max(x1 - x0, 1e-12)
            func px(_ v: Double) -> Double { ox + (v - x0) / dx * pw }
            func py(_ v: Double) -> Double { oy + ph - (v - y0) / (y1 - y0) * ph }
            for t in 0...4 {
                let yv = y0 + (y1 - y0) * Double(t) / 4
                s += "<line x1=\"\(ox)\" y1=\"\(py(yv))\" x2=\"\(ox + pw)\" y2=\"\(py(yv))\" stroke=\"#eee\"/>"
                s += "<text x=\"\(ox - 3)\" y=\"\(py(yv) + 3)\" text-anchor=\"end\" font-size=\"9\">\(short(yv))</text>\n"
            }
            s += "<text x=\"\(ox)\" y=\"\(oy + ph + 12)\" font-size=\"9\">\(short(x0))</text>"
            s += "<text x=\"\(ox + pw)\" y=\"\(oy + ph + 12)\" text-anchor=\"end\" font-size=\"9\">\(short(x1)) \(x == "step" ? "steps" : "tokens")</text>\n"
            for (i, pts) in series.enumerated() where !pts.isEmpty {
                let c = colorOf[i]
                let d = pts.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(fmt(px($0.element.0), 1)),\(fmt(py($0.element.1), 1))" }
                s += "<path d=\"\(d.joined(separator: " "))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.6\"/>\n"
                if pts.count == 1 || panel.key.hasPrefix("eval_") {
                    for p in pts { s += "<circle cx=\"\(fmt(px(p.0), 1))\" cy=\"\(fmt(py(p.1), 1))\" r=\"2.5\" fill=\"\(c)\"/>\n" }
                }
            }
        }
        return s + "</svg>\n"
    }

    func movingAverage(_ pts: [(Double, Double)]) -> [(Double, Double)] {
        guard smooth > 1 else { return pts }
        return pts.indices.map { i in
            let lo = max(0, i - smooth + 1)
            let ys = pts[lo...i].map { $0.1 }
            return (pts[i].0, ys.reduce(0, +) / Double(ys.count))
        }
    }

    func short(_ v: Double) -> String {
        let a = abs(v)
        if a >= 10_000 { return fmtSci(v, 1) }
        if v == v.rounded() { return fmt(v, 0) }
        if a >= 100 { return fmt(v, 0) }
        if a >= 1 || a == 0 { return fmt(v, 2) }
        if a >= 0.01 { return fmt(v, 3) }
        return fmtSci(v, 1)
    }

    func escape(_ t: String) -> String {
        t.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
    }
}

extension String {
    func replacingAll(_ a: String, _ b: String) -> String { components(separatedByString: a).joined(separator: b) }
    func components(separatedByString sep: String) -> [String] {
        var out: [String] = [], cur = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: sep) {
            cur = String(rest[..<r.lowerBound]); out.append(cur); rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
