/// A key change asked of an Issuer whose keys directory is read-only (a mounted secret).
struct ReadOnlyKeysError: Error, CustomStringConvertible, Sendable {
    /// The keys directory.
    let path: String

    var description: String {
        "the keys directory \(self.path) is read-only (a mounted secret?): this Issuer cannot rotate; "
            + "rotate where the keys are written, then update the secret"
    }
}
