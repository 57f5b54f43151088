/// A domain error that knows its answer (an RFC 6750 bearer refusal, say).
public protocol EdgeErrorConvertible: Error {
    /// The refusal to send.
    var edgeError: EdgeError { get }
}
