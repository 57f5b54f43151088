/// What happened when, for the HTML page and the JSON report: requests counted per 100 ms
/// by ResourceAPI and outcome, and the drill's events. A value; the state actor owns one.
struct DrillTimeline: Sendable {
    /// The width of one bar of the timeline.
    static let binSeconds = 0.1

    /// One bar segment: requests of one outcome at one ResourceAPI in one 100 ms bin.
    struct BinKey: Hashable, Sendable, Comparable {
        /// Index of the ResourceAPI in the order given.
        var resource: Int
        var bin: Int
        var series: Series

        static func < (left: BinKey, right: BinKey) -> Bool {
            (left.resource, left.bin, left.series.order, left.series.label) < (right.resource, right.bin, right.series.order, right.series.label)
        }
    }

    /// What a request came to, as the picture tells it apart.
    enum Series: Hashable, Sendable {
        /// Accepted, with a token of this `kid`.
        case accepted(kid: String)
        /// Refused as the drill expects (an old-kid token after the emergency retire).
        case expectedRefusal
        /// Should have been accepted and was not: what a planned rotation must never show.
        case lost

        var label: String {
            switch self {
            case .accepted(let kid): "accepted \(kid)"
            case .expectedRefusal: "refused (expected)"
            case .lost: "lost"
            }
        }

        fileprivate var order: Int {
            switch self {
            case .accepted: 0
            case .expectedRefusal: 1
            case .lost: 2
            }
        }
    }

    /// One moment worth marking.
    struct Event: Sendable, Encodable {
        /// Seconds since the traffic started.
        var at: Double
        /// `rotated`, `new_kid_published`, `new_kid_first_signed`, `new_kid_known`,
        /// `new_kid_first_accepted`, `retire_started`, `retire_done`, `retired_kid_on_feed`,
        /// `retired_kid_first_refused`, `end`.
        var event: String
        /// The ResourceAPI it happened at, when it is about one.
        var resourceURL: String?
        var detail: String?

        private enum CodingKeys: String, CodingKey {
            case at = "at_seconds"
            case event
            case resourceURL = "resource_url"
            case detail
        }
    }

    private(set) var counts: [BinKey: Int] = [:]
    private(set) var events: [Event] = []

    /// Counts one request answered `seconds` after the start.
    mutating func count(resource: Int, at seconds: Double, _ series: Series) {
        let bin = max(0, Int(seconds / Self.binSeconds))
        self.counts[BinKey(resource: resource, bin: bin, series: series), default: 0] += 1
    }

    mutating func mark(_ event: String, at seconds: Double, resourceURL: String? = nil, detail: String? = nil) {
        self.events.append(Event(at: max(0, seconds), event: event, resourceURL: resourceURL, detail: detail))
    }

    /// The events in the order they happened.
    var sortedEvents: [Event] {
        self.events.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    /// The last bin with any request.
    var lastBin: Int {
        self.counts.keys.map(\.bin).max() ?? 0
    }
}
