import Foundation

/// The drill report as one self-contained HTML page: per ResourceAPI, a timeline of requests
/// per 100 ms by outcome and `kid` as inline SVG with the drill's events marked, then the
/// summary. Nothing is loaded from elsewhere, so the file opens from disk.
///
/// Hand-written SVG: the picture is a few hundred rectangles and lines, and none of the
/// project's chosen dependencies draws charts; SVG is text, and `escape` is the one rule
/// that keeps the report's strings (URLs, error kinds) from becoming markup.
enum DrillPage {
    static let chartWidth = 960.0
    static let chartHeight = 180.0
    private static let margin = (left: 48.0, right: 40.0, top: 28.0, bottom: 26.0)

    static func render(_ report: DrillReport) -> String {
        let timeline = report.fullTimeline
        let endSeconds = max(report.events.last?.at ?? 0, Double(timeline.lastBin + 1) * DrillTimeline.binSeconds)
        let colours = self.colours(report)
        var body = "<h1>Rotation drill: \(report.passed ? "PASS" : "FAIL")</h1>\n"
        body += "<p class=\"summary\">\(self.escape(report.mode)) rotation, \(self.escape(report.oldKid ?? "?")) &#8594; "
        body += "\(self.escape(report.newKid ?? "?")), \(DrillReport.number(report.rate)) requests/s per stream per ResourceAPI, "
        body += "\(report.requestsSent) sent, \(report.lost) lost.</p>\n"
        body += self.legend(colours)
        for (index, api) in report.resourceAPIs.enumerated() {
            body += "<h2>ResourceAPI \(index + 1): \(self.escape(api.url))</h2>\n"
            body += self.chart(timeline, resource: index, url: api.url, endSeconds: endSeconds, events: report.events, colours: colours)
        }
        body += self.summaryTable(report)
        body += "<h2>Events</h2>\n<table class=\"events\"><tr><th>at (s)</th><th>event</th><th>where</th><th>detail</th></tr>\n"
        for event in report.events {
            body += "<tr><td>\(String(format: "%.3f", event.at))</td><td>\(self.escape(event.event))</td>"
            body += "<td>\(self.escape(event.resourceURL ?? "issuer"))</td><td>\(self.escape(event.detail ?? ""))</td></tr>\n"
        }
        body += "</table>\n<h2>Report</h2>\n<pre>\(self.escape(report.renderText()))</pre>\n"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Rotation drill \(report.passed ? "PASS" : "FAIL")</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
            h1 { font-size: 22px; } h2 { font-size: 16px; margin-top: 28px; }
            table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
            .legend span { display: inline-block; margin-right: 16px; } .legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
            svg text { font: 11px system-ui, sans-serif; fill: #333; } pre { background: #f6f6f6; padding: 12px; overflow-x: auto; }
            </style></head><body>
            \(body)</body></html>

            """
    }

    // MARK: parts

    /// A fill per series: kids in the order they appear (old, then new), then refusals and losses.
    private static func colours(_ report: DrillReport) -> [(series: DrillTimeline.Series, colour: String)] {
        var kids: [String] = []
        for kid in [report.oldKid, report.newKid].compactMap({ $0 }) where !kids.contains(kid) { kids.append(kid) }
        for key in report.fullTimeline.counts.keys {
            if case .accepted(let kid) = key.series, !kids.contains(kid) { kids.append(kid) }
        }
        let palette = ["#4e79a7", "#59a14f", "#9c755f", "#76b7b2", "#edc948"]
        var colours = kids.enumerated().map { (series: DrillTimeline.Series.accepted(kid: $0.element), colour: palette[$0.offset % palette.count]) }
        colours.append((.expectedRefusal, "#bab0ac"))
        colours.append((.lost, "#e15759"))
        return colours
    }

    private static func legend(_ colours: [(series: DrillTimeline.Series, colour: String)]) -> String {
        var html = "<p class=\"legend\">"
        for entry in colours {
            html += "<span><i style=\"background:\(entry.colour)\"></i>\(self.escape(entry.series.label))</span>"
        }
        return html + "<span>dashed lines: events (rotation, publication, first acceptance, retire, refusal)</span></p>\n"
    }

    private static func chart(
        _ timeline: DrillTimeline,
        resource: Int,
        url: String,
        endSeconds: Double,
        events: [DrillTimeline.Event],
        colours: [(series: DrillTimeline.Series, colour: String)]
    ) -> String {
        let width = self.chartWidth + self.margin.left + self.margin.right
        let height = self.chartHeight + self.margin.top + self.margin.bottom
        let bins = max(1, Int((endSeconds / DrillTimeline.binSeconds).rounded(.up)))
        var perBin: [Int: [DrillTimeline.Series: Int]] = [:]
        for (key, count) in timeline.counts where key.resource == resource {
            perBin[key.bin, default: [:]][key.series, default: 0] += count
        }
        let tallest = max(1, perBin.values.map { $0.values.reduce(0, +) }.max() ?? 1)
        let barWidth = self.chartWidth / Double(bins)
        let x = { (seconds: Double) in self.margin.left + seconds / endSeconds * self.chartWidth }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" data-resource=\"\(self.escape(url))\" "
        svg += "width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        svg += "<title>Requests per 100 ms at \(self.escape(url)) by outcome and kid</title>\n"
        // Axes: seconds along the bottom, requests per bin up the side.
        let baseline = self.margin.top + self.chartHeight
        svg += "<line x1=\"\(self.margin.left)\" y1=\"\(baseline)\" x2=\"\(self.margin.left + self.chartWidth)\" y2=\"\(baseline)\" stroke=\"#888\"/>\n"
        let step = max(1, Int((endSeconds / 10).rounded(.up)))
        for second in stride(from: 0, through: Int(endSeconds), by: step) {
            svg += "<text x=\"\(self.format(x(Double(second))))\" y=\"\(self.format(baseline + 16))\" text-anchor=\"middle\">\(second) s</text>\n"
        }
        svg += "<text x=\"4\" y=\"\(self.format(self.margin.top + 8))\">\(tallest)</text><text x=\"4\" y=\"\(self.format(baseline))\">0</text>\n"
        for bin in perBin.keys.sorted() {
            var top = baseline
            for entry in colours {
                guard let count = perBin[bin]?[entry.series], count > 0 else { continue }
                let barHeight = Double(count) / Double(tallest) * self.chartHeight
                top -= barHeight
                svg += "<rect class=\"bin\" data-series=\"\(self.escape(entry.series.label))\" data-count=\"\(count)\" "
                svg += "x=\"\(self.format(self.margin.left + Double(bin) * barWidth))\" y=\"\(self.format(top))\" "
                svg += "width=\"\(self.format(max(barWidth - 0.5, 0.5)))\" height=\"\(self.format(barHeight))\" fill=\"\(entry.colour)\"/>\n"
            }
        }
        // Events of the Issuer and of this ResourceAPI; labels staggered so they do not overlap.
        var row = 0
        for event in events where event.resourceURL == nil || event.resourceURL == url {
            let at = x(min(event.at, endSeconds))
            let labelY = self.margin.top - 16 + Double(row % 3) * 10
            svg += "<g class=\"event\" data-event=\"\(self.escape(event.event))\" data-at=\"\(self.format(event.at))\">"
            svg += "<line x1=\"\(self.format(at))\" y1=\"\(self.format(labelY + 2))\" x2=\"\(self.format(at))\" y2=\"\(self.format(baseline))\" "
            svg += "stroke=\"#222\" stroke-dasharray=\"3,3\"/>"
            svg += "<text x=\"\(self.format(at + 3))\" y=\"\(self.format(labelY))\">\(self.escape(event.event))</text>"
            svg += "<title>\(self.escape(event.event)) at \(self.format(event.at)) s \(self.escape(event.detail ?? ""))</title></g>\n"
            row += 1
        }
        return svg + "</svg>\n"
    }

    private static func summaryTable(_ report: DrillReport) -> String {
        func seconds(_ value: Double?) -> String {
            value.map { String(format: "%.3f s", $0) } ?? "never"
        }
        var html = "<h2>Summary</h2>\n<table class=\"resources\"><tr><th>ResourceAPI</th><th>sent</th><th>accepted</th><th>lost</th>"
        html += "<th>new kid first accepted (after rotation)</th><th>old kid first refused (after retire)</th><th>failures</th></tr>\n"
        for api in report.resourceAPIs {
            let failures = api.failuresByKind.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: "; ")
            html += "<tr><td>\(self.escape(api.url))</td><td>\(api.sent)</td><td>\(api.accepted)</td><td>\(api.lost)</td>"
            html += "<td>\(seconds(api.firstNewKidAcceptedSeconds))</td><td>\(seconds(api.retiredKidRefusedSeconds))</td>"
            html += "<td>\(self.escape(failures.isEmpty ? "none" : failures))</td></tr>\n"
        }
        html += "</table>\n"
        if !report.problems.isEmpty {
            html += "<ul class=\"problems\">" + report.problems.map { "<li>\(self.escape($0))</li>" }.joined() + "</ul>\n"
        }
        return html
    }

    // MARK: text

    /// `text` safe inside an element or a double-quoted attribute.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
