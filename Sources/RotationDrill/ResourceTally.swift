/// What one ResourceAPI did during the drill, as the state actor counts it.
struct ResourceTally: Sendable {
    let url: String
    var sent = 0
    var accepted = 0
    /// Requests that should have been accepted and were not, by kind.
    var lost: [String: Int] = [:]
    /// Old-kid tokens refused after the emergency retire: the point of the retire.
    var expectedRefusals: [String: Int] = [:]
    /// Requests not sent because too many were already waiting for this ResourceAPI.
    var notSentClientBehind = 0
    var firstNewKidAcceptedAt: ContinuousClock.Instant?
    var oldRefusedAt: ContinuousClock.Instant?
    var oldRefusedWith: String?
    var acceptedAfterRefusal = 0

    init(url: String) {
        self.url = url
    }
}
