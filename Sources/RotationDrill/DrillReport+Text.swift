import Foundation

extension DrillReport {
    /// The report as JSON for scripts (the schema is docs/drill-report.schema.json).
    func renderJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The report as a table for people.
    func renderText() -> String {
        func seconds(_ value: Double?) -> String {
            value.map { String(format: "%.3f s", $0) } ?? "never"
        }
        func table(_ counts: [String: Int], indent: String = "    ") -> [String] {
            counts.isEmpty ? ["\(indent)none"] : counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\(indent)\($0.value)\t\($0.key)" }
        }
        func kids(_ list: [String]?) -> String {
            list.map { $0.isEmpty ? "(none)" : $0.joined(separator: ", ") } ?? "(readyz gave no kids)"
        }
        var lines = [
            "rotation drill report",
            "  issuer                  \(self.issuerURL)",
            "  mode                    \(self.mode)",
            "  rate                    \(Self.number(self.rate)) requests/s per stream per ResourceAPI (fresh and old tokens)",
            "  old kid -> new kid      \(self.oldKid ?? "?") -> \(self.newKid ?? "?")",
            "  waited to rotate        \(seconds(self.rotationWaitSeconds)) (planned rotations wait until the next key is published for jwks-max-age)",
            "  requests sent           \(self.requestsSent) (fresh tokens \(self.streams["fresh"]?.sent ?? 0), old tokens \(self.streams["old"]?.sent ?? 0))",
            "  accepted                \(self.requestsAccepted)",
            "  lost                    \(self.lost)",
            "  failures by kind",
        ]
        lines += table(self.failuresByKind)
        lines += [
            "  old tokens not sent     \(self.oldTokensSkippedAsExpired) (expired: not a rotation failure)",
            "  issuer errors (refresh/login)",
        ]
        lines += table(self.issuerErrors)
        lines.append("  first new-kid token accepted   \(seconds(self.firstNewKidAcceptedSeconds)) after the rotation (by every ResourceAPI)")
        lines.append("  emergency retire        \(self.retire.status)")
        if self.retire.status == "done" {
            lines += [
                "    issuer keys retire took       \(seconds(self.retire.commandSeconds))",
                "    kid on the revocation feed    \(seconds(self.retire.onFeedSeconds)) after the retire",
                "    old-kid tokens refused        \(seconds(self.retire.refusedSeconds)) after the retire, everywhere (\(self.retire.refusedWith ?? "-"))",
                "    accepted after refusal        \(self.retire.acceptedAfterRefusal)",
            ]
            if self.retire.oldTokenExpiredBeforeRetire {
                lines.append("    note: the old token had expired before the retire; the refusal may be its expiry")
            }
        }
        for (index, api) in self.resourceAPIs.enumerated() {
            lines += [
                "  resource API \(index + 1)          \(api.url)",
                "    sent / accepted / lost        \(api.sent) / \(api.accepted) / \(api.lost)",
                "    new kid first accepted        \(seconds(api.firstNewKidAcceptedSeconds)) after the rotation",
            ]
            if api.notSentClientBehind > 0 {
                lines.append("    not sent (drill behind)       \(api.notSentClientBehind)")
            }
            if !api.failuresByKind.isEmpty {
                lines.append("    failures by kind")
                lines += table(api.failuresByKind, indent: "      ")
            }
            if self.retire.status == "done" {
                lines.append("    old kid first refused         \(seconds(api.retiredKidRefusedSeconds)) after the retire (\(api.retiredKidRefusedWith ?? "-"))")
            }
            lines += [
                "    kids before                   \(kids(api.kidsBefore))",
                "    kids after rotation           \(kids(api.kidsAfterRotation))",
            ]
            if self.retire.status == "done" { lines.append("    kids after retire             \(kids(api.kidsAfterRetire))") }
        }
        lines.append("  result                  \(self.passed ? "PASS" : "FAIL")")
        lines += self.problems.map { "    - \($0)" }
        return lines.joined(separator: "\n")
    }

    /// `200`, or `12.5`: a rate without needless decimals.
    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
