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
        /// From the start of the retire until every ResourceAPI had refused an old-kid token.
        var refusedSeconds: Double?
        var refusedWith: String?
        /// Old-kid tokens accepted after the first refusal at the same ResourceAPI (must be 0).
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
    var mode: String
    /// Requests per second asked for in each stream, at each ResourceAPI.
    var rate: Double
    var oldKid: String?
    var newKid: String?
    var rotationWaitSeconds: Double = 0
    /// From the rotation until the last of the ResourceAPIs first accepted a new-kid token;
    /// nil when one of them never did.
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
    /// Every ResourceAPI on its own, in the order given.
    var resourceAPIs: [ResourceReport]
    var events: [DrillTimeline.Event] = []
    var timeline = TimelineBins()
    var passed = false
    var problems: [String] = []

    /// The timeline as JSON: one row per 100 ms, ResourceAPI and outcome with any request.
    struct TimelineBins: Encodable, Sendable {
        struct Row: Encodable, Sendable {
            /// Index into `resource_apis`.
            var resource: Int
            /// Start of the bin, seconds since the traffic started.
            var at: Double
            var series: String
            var count: Int

            private enum CodingKeys: String, CodingKey {
                case resource
                case at = "at_seconds"
                case series, count
            }
        }

        var binSeconds = DrillTimeline.binSeconds
        var rows: [Row] = []

        private enum CodingKeys: String, CodingKey {
            case binSeconds = "bin_seconds"
            case rows
        }
    }

    /// The whole timeline, for the HTML page (the JSON carries its rows).
    private(set) var fullTimeline = DrillTimeline()

    init(settings: DrillSettings) {
        self.issuerURL = settings.issuerURL
        self.rate = settings.rate
        self.resourceAPIs = settings.resourceURLs.map { ResourceReport(url: $0) }
        self.mode = settings.force ? "forced" : "planned"
        if settings.retire { self.mode += " + emergency retire" }
        self.forced = settings.force
        self.timeout = settings.timeout
    }

    private var forced: Bool
    private var timeout: Double

    private enum CodingKeys: String, CodingKey {
        case issuerURL = "issuer_url"
        case mode, rate
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
        case resourceAPIs = "resource_apis"
        case events, timeline
        case passed, problems
    }

    /// Puts each ResourceAPI's `/readyz` kids (in the order given) where `field` says.
    mutating func record(kids: [[String]?], as field: WritableKeyPath<ResourceReport, [String]?>) {
        for (index, list) in kids.enumerated() where index < self.resourceAPIs.count {
            self.resourceAPIs[index][keyPath: field] = list
        }
    }

    mutating func collect(from state: DrillState) async {
        for stream in Stream.allCases {
            let counts = StreamCounts(sent: await state.sent[stream] ?? 0, accepted: await state.accepted[stream] ?? 0)
            self.streams[stream.rawValue] = counts
            self.requestsSent += counts.sent
            self.requestsAccepted += counts.accepted
        }
        let rotatedAt = await state.rotatedAt
        let retireStartedAt = await state.retireStartedAt
        var allAccepted = true
        var allRefused = true
        for (index, tally) in (await state.resources).enumerated() where index < self.resourceAPIs.count {
            var entry = self.resourceAPIs[index]
            entry.sent = tally.sent
            entry.accepted = tally.accepted
            entry.failuresByKind = tally.lost
            entry.lost = tally.lost.values.reduce(0, +)
            entry.expectedRefusals = tally.expectedRefusals
            entry.notSentClientBehind = tally.notSentClientBehind
            entry.acceptedAfterRefusal = tally.acceptedAfterRefusal
            if let rotatedAt, let accepted = tally.firstNewKidAcceptedAt {
                entry.firstNewKidAcceptedSeconds = Drill.seconds(accepted - rotatedAt)
            }
            if let retireStartedAt, let refused = tally.oldRefusedAt {
                entry.retiredKidRefusedSeconds = Drill.seconds(refused - retireStartedAt)
                entry.retiredKidRefusedWith = tally.oldRefusedWith
            }
            allAccepted = allAccepted && entry.firstNewKidAcceptedSeconds != nil
            allRefused = allRefused && entry.retiredKidRefusedSeconds != nil
            self.resourceAPIs[index] = entry
            self.lost += entry.lost
            for (kind, count) in entry.failuresByKind { self.failuresByKind[kind, default: 0] += count }
            for (kind, count) in entry.expectedRefusals { self.expectedRefusals[kind, default: 0] += count }
            self.retire.acceptedAfterRefusal += entry.acceptedAfterRefusal
        }
        if allAccepted { self.firstNewKidAcceptedSeconds = self.resourceAPIs.compactMap(\.firstNewKidAcceptedSeconds).max() }
        if allRefused, let slowest = self.resourceAPIs.max(by: { ($0.retiredKidRefusedSeconds ?? 0) < ($1.retiredKidRefusedSeconds ?? 0) }) {
            self.retire.refusedSeconds = slowest.retiredKidRefusedSeconds
            self.retire.refusedWith = slowest.retiredKidRefusedWith
        }
        self.oldTokensSkippedAsExpired = await state.skippedExpired
        self.issuerErrors = await state.issuerErrors
        self.retire.oldTokenExpiredBeforeRetire = await state.oldExpiredBeforeRetire
        self.fullTimeline = await state.timeline
        self.events = self.fullTimeline.sortedEvents
        self.timeline.rows = self.fullTimeline.counts.sorted { $0.key < $1.key }.map { key, count in
            TimelineBins.Row(resource: key.resource, at: Double(key.bin) * DrillTimeline.binSeconds, series: key.series.label, count: count)
        }
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
        for entry in self.resourceAPIs where entry.firstNewKidAcceptedSeconds == nil {
            problems.append("\(entry.url) accepted no token of the new kid within \(Int(self.timeout)) s")
        }
        if (self.streams[Stream.old.rawValue]?.accepted ?? 0) == 0 {
            problems.append("no old-token request was accepted: the old stream never ran")
        }
        if self.retire.status == "done" {
            for entry in self.resourceAPIs where entry.retiredKidRefusedSeconds == nil {
                problems.append("\(entry.url) still accepted old-kid tokens \(Int(self.timeout)) s after the retire")
            }
            if self.retire.acceptedAfterRefusal > 0 {
                problems.append("\(self.retire.acceptedAfterRefusal) old-kid request(s) accepted after the first refusal")
            }
        } else if self.retire.status.hasPrefix("failed") {
            problems.append("the retire failed")
        }
        self.problems = problems
        // A forced rotation may lose requests until every ResourceAPI re-fetched; nothing else.
        let tolerated = self.forced && problems.count == 1 && self.lost > 0
        self.passed = problems.isEmpty || tolerated
    }
}
