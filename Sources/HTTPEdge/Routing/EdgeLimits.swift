/// The size limits both services apply on every request path.
public struct EdgeLimits: Sendable, Equatable {
    /// An access token in `Authorization: Bearer` (RFC 8725 §3.1 does not cap; 8 KiB is generous).
    public var maxTokenBytes: Int
    /// A request body; over it: 413.
    public var maxBodyBytes: Int
    /// A request head, all header fields together; over it: 431.
    public var maxHeadBytes: Int
    /// Header fields in one request; over it: 431.
    public var maxHeaderFields: Int

    public init(maxTokenBytes: Int = 8192, maxBodyBytes: Int = 65_536, maxHeadBytes: Int = 32_768, maxHeaderFields: Int = 100) {
        self.maxTokenBytes = maxTokenBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderFields = maxHeaderFields
    }

    /// The contract's limits.
    public static let standard = EdgeLimits()
}
