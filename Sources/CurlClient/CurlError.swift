public enum CurlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connect or total timeout passed.
    case timeout
    /// The response body was larger than `maxBodyBytes`.
    case tooLarge(limit: Int)
    /// No connection could be made (refused, unreachable, name not resolved).
    case connectFailed(String)
    /// curl refused the URL (malformed, or a scheme other than http/https).
    case invalidURL(String)
    /// The TLS handshake failed or the peer's certificate or host name did not verify,
    /// with curl's own reason (e.g. `SSL certificate problem: unable to get local issuer certificate`).
    case tlsFailed(code: Int, message: String)
    /// Any other transport failure, with curl's own message.
    case transport(code: Int, message: String)
    /// The thread pool running transfers was shut down.
    case clientShutDown
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .timeout: "timed out"
        case .tooLarge(let limit): "response body over \(limit) bytes"
        case .connectFailed(let message): "connect failed: \(message)"
        case .invalidURL(let message): "invalid URL: \(message)"
        case .tlsFailed(let code, let message): "TLS verification failed (curl \(code)): \(message)"
        case .transport(let code, let message): "transfer failed (curl \(code)): \(message)"
        case .clientShutDown: "HTTP client shut down"
        case .cancelled: "cancelled"
        }
    }
}
