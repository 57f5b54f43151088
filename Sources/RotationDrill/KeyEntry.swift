/// One key of `/admin/keys` or of the rotate response.
struct KeyEntry: Decodable, Sendable {
    let kid: String
    let state: String
    let deactivated_at: Int64?
}
