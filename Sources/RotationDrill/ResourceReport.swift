/// One ResourceAPI's part of the drill report.
struct ResourceReport: Encodable, Sendable {
    var url: String
    var sent = 0
    var accepted = 0
    /// Requests that should have been accepted and were not: the number that must be 0.
    var lost = 0
    var failuresByKind: [String: Int] = [:]
    var expectedRefusals: [String: Int] = [:]
    /// Ticks at which the drill already had `Drill.maxInFlight` requests waiting here.
    var notSentClientBehind = 0
    /// From the rotation until this ResourceAPI first accepted a token of the new kid.
    var firstNewKidAcceptedSeconds: Double?
    /// From the start of the retire until this ResourceAPI first refused an old-kid token.
    var retiredKidRefusedSeconds: Double?
    var retiredKidRefusedWith: String?
    /// Old-kid tokens accepted here after its first refusal (must be 0).
    var acceptedAfterRefusal = 0
    var kidsBefore: [String]?
    var kidsAfterRotation: [String]?
    var kidsAfterRetire: [String]?

    init(url: String) {
        self.url = url
    }

    private enum CodingKeys: String, CodingKey {
        case url, sent, accepted, lost
        case failuresByKind = "failures_by_kind"
        case expectedRefusals = "expected_refusals"
        case notSentClientBehind = "not_sent_client_behind"
        case firstNewKidAcceptedSeconds = "first_new_kid_accepted_seconds"
        case retiredKidRefusedSeconds = "retired_kid_refused_seconds"
        case retiredKidRefusedWith = "retired_kid_refused_with"
        case acceptedAfterRefusal = "accepted_after_refusal"
        case kidsBefore = "kids_before"
        case kidsAfterRotation = "kids_after_rotation"
        case kidsAfterRetire = "kids_after_retire"
    }
}
