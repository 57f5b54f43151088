/// What one greet request came to.
enum GreetOutcome: Sendable {
    case accepted
    /// Not 200: `kind` is the status, the RFC 6750 error and its description, or the transport error.
    case refused(kind: String)
}
