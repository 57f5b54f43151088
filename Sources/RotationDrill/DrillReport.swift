import Foundation

/// What the drill saw; printed as text for people or JSON for scripts.
struct DrillReport: Encodable, Sendable {
    struct StreamCounts: Encodable, Sendable {
        var sent = 0
        var accepted = 0
    }

    struct Retire: Encodable, Sendable {
        /// "not requested", "done", or why it was skipped or failed.
        var status: String
        /// From the start of the retire until `issuer keys retire` returned.
        var commandSeconds: Double?
        /// From the start of the retire until the Issuer's feed listed the kid.
        var onFeedSeconds: Double?
        /// From the start of the retire until the first refusal of an old-kid token.
        var refusedSeconds: Double?
        var refusedWith: String?
        /// Old-kid tokens accepted after the first refusal (must be 0).
        var acceptedAfterRefusal = 0
        var oldTokenExpiredBeforeRetire = false

        init(status: String) {
            self.status = status
        }

        private enum CodingKeys: String, CodingKey {
            case status
            case commandSeconds = "command_seconds"
            case onFeedSeconds = "on_feed_seconds"
            case refusedSeconds = "refused_seconds"
            case refusedWith = "refused_with"
            case acceptedAfterRefusal = "accepted_after_refusal"
            case oldTokenExpiredBeforeRetire = "old_token_expired_before_retire"
        }
    }

    var issuerURL: String
    var resourceURL: String
    var mode: String
    var oldKid: String?
    var newKid: String?
    var rotationWaitSeconds: Double = 0
    var firstNewKidAcceptedSeconds: Double?
    var requestsSent = 0
    var requestsAccepted = 0
    var streams: [String: StreamCounts] = [:]
    /// Requests that should have been accepted and were not: the number that must be 0.
    var lost = 0
    var failuresByKind: [String: Int] = [:]
    var expectedRefusals: [String: Int] = [:]
    var oldTokensSkippedAsExpired = 0
    var issuerErrors: [String: Int] = [:]
    var retire = Retire(status: "not requested")
    var kidsBefore: [String]?
    var kidsAfterRotation: [String]?
    var kidsAfterRetire: [String]?
    var passed = false
    var problems: [String] = []

    init(settings: DrillSettings) {
        self.issuerURL = settings.issuerURL
        self.resourceURL = settings.resourceURL
        self.mode = settings.force ? "forced" : "planned"
        if settings.retire { self.mode += " + emergency retire" }
        self.forced = settings.force
        self.timeout = settings.timeout
    }

    private var forced: Bool
    private var timeout: Double

    private enum CodingKeys: String, CodingKey {
        case issuerURL = "issuer_url"
        case resourceURL = "resource_url"
        case mode
        case oldKid = "old_kid"
        case newKid = "new_kid"
        case rotationWaitSeconds = "rotation_wait_seconds"
        case firstNewKidAcceptedSeconds = "first_new_kid_accepted_seconds"
        case requestsSent = "requests_sent"
        case requestsAccepted = "requests_accepted"
        case streams, lost
        case failuresByKind = "failures_by_kind"
        case expectedRefusals = "expected_refusals"
        case oldTokensSkippedAsExpired = "old_tokens_skipped_as_expired"
        case issuerErrors = "issuer_errors"
        case retire
        case kidsBefore = "kids_before"
        case kidsAfterRotation = "kids_after_rotation"
        case kidsAfterRetire = "kids_after_retire"
        case passed, problems
    }

    mutating func collect(from state: DrillState) async {
        for stream in Stream.allCases {
            let counts = StreamCounts(sent: await state.sent[stream] ?? 0, accepted: await state.accepted[stream] ?? 0)
            self.streams[stream.rawValue] = counts
            self.requestsSent += counts.sent
            self.requestsAccepted += counts.accepted
        }
        self.failuresByKind = await state.lost
        self.lost = self.failuresByKind.values.reduce(0, +)
        self.expectedRefusals = await state.expectedRefusals
        self.oldTokensSkippedAsExpired = await state.skippedExpired
        self.issuerErrors = await state.issuerErrors
        self.retire.acceptedAfterRefusal = await state.acceptedAfterRefusal
        self.retire.oldTokenExpiredBeforeRetire = await state.oldExpiredBeforeRetire
    }

    /// Pass or fail, with the reasons.
    mutating func judge() {
        var problems: [String] = []
        if self.lost > 0 {
            problems.append(
                self.forced
                    ? "a forced rotation lost \(self.lost) request(s) (tolerated: resource servers rely on their unknown-kid re-fetch)"
                    : "a planned rotation lost \(self.lost) request(s)"
            )
        }
        if self.firstNewKidAcceptedSeconds == nil {
            problems.append("no token of the new kid was accepted within \(Int(self.timeout)) s")
        }
        if (self.streams[Stream.old.rawValue]?.accepted ?? 0) == 0 {
            problems.append("no old-token request was accepted: the old stream never ran")
        }
        if self.retire.status == "done" {
            if self.retire.refusedSeconds == nil {
                problems.append("old-kid tokens were still accepted \(Int(self.timeout)) s after the retire")
            }
            if self.retire.acceptedAfterRefusal > 0 {
                problems.append("\(self.retire.acceptedAfterRefusal) old-kid request(s) accepted after the first refusal")
            }
        } else if self.retire.status.hasPrefix("failed") {
            problems.append("the retire failed")
        }
        self.problems = problems
        let tolerated = self.forced && problems.count == 1 && self.lost > 0
        self.passed = problems.isEmpty || tolerated
    }

    func renderJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    func renderText() -> String {
        func seconds(_ value: Double?) -> String {
            value.map { String(format: "%.3f s", $0) } ?? "never"
        }
        func table(_ counts: [String: Int]) -> [String] {
            counts.isEmpty ? ["    none"] : counts.sorted { $0.value > $1.value }.map { "    \($0.value)\t\($0.key)" }
        }
        func kids(_ list: [String]?) -> String {
            list.map { $0.isEmpty ? "(none)" : $0.joined(separator: ", ") } ?? "(readyz gave no kids)"
        }
        var lines = [
            "rotation drill report",
            "  issuer                  \(self.issuerURL)",
            "  resource API            \(self.resourceURL)",
            "  mode                    \(self.mode)",
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
        lines.append("  first new-kid token accepted   \(seconds(self.firstNewKidAcceptedSeconds)) after the rotation")
        lines.append("  emergency retire        \(self.retire.status)")
        if self.retire.status == "done" {
            lines += [
                "    issuer keys retire took       \(seconds(self.retire.commandSeconds))",
                "    kid on the revocation feed    \(seconds(self.retire.onFeedSeconds)) after the retire",
                "    old-kid tokens refused        \(seconds(self.retire.refusedSeconds)) after the retire (\(self.retire.refusedWith ?? "-"))",
                "    accepted after refusal        \(self.retire.acceptedAfterRefusal)",
            ]
            if self.retire.oldTokenExpiredBeforeRetire {
                lines.append("    note: the old token had expired before the retire; the refusal may be its expiry")
            }
            lines.append("    refusals (expected)")
            lines += table(self.expectedRefusals).map { "  " + $0 }
        }
        lines += [
            "  kids at the ResourceAPI",
            "    before                \(kids(self.kidsBefore))",
            "    after rotation        \(kids(self.kidsAfterRotation))",
        ]
        if self.retire.status == "done" { lines.append("    after retire          \(kids(self.kidsAfterRetire))") }
        lines.append("  result                  \(self.passed ? "PASS" : "FAIL")")
        lines += self.problems.map { "    - \($0)" }
        return lines.joined(separator: "\n")
    }
}
