/// The validated options of one drill.
struct DrillSettings: Sendable {
    var issuerURL: String
    /// Every ResourceAPI that gets the traffic, each reported on its own.
    var resourceURLs: [String]
    var username: String
    var password: String
    var adminUsername: String
    var adminPassword: String
    var force: Bool
    var retire: Bool
    var issuerBin: String?
    var keysDir: String?
    /// `--ca-file`: the CAs the stack's `https://` certificates must chain to; nil: the system's.
    var caFile: String? = nil
    /// Greet requests per second in each stream, at each ResourceAPI.
    var rate: Double = 200
    /// `--html FILE`: where the page with the timeline goes, if anywhere.
    var htmlPath: String? = nil
    var warmup: Double = 1
    var settle: Double = 2
    var maxWait: Double = 600
    var timeout: Double = 30
    /// How often the fresh stream gets a new access token through /refresh.
    var refreshInterval: Double = 0.25
}
