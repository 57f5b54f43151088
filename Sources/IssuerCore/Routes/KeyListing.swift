import SharedJWT

/// The key list of /admin/keys and `issuer keys list --json`: never private material.
struct KeyListing: Encodable {
    struct Entry: Encodable {
        var kid: String
        var state: String
        var published_at: Int64
        var activated_at: Int64?
        var deactivated_at: Int64?
        var retired_at: Int64?
        var emergency: Bool
    }
    var keys: [Entry]

    init(_ lifecycle: KeyLifecycle) {
        keys = lifecycle.keys.map { key in
            Entry(
                kid: key.kid,
                state: key.state.rawValue,
                published_at: Int64(key.publishedAt),
                activated_at: key.activatedAt.map { Int64($0) },
                deactivated_at: key.deactivatedAt.map { Int64($0) },
                retired_at: key.retiredAt.map { Int64($0) },
                emergency: key.emergency
            )
        }
    }
}
