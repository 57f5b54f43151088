/// The limits both services apply on every request path: sizes, timeouts and connections.
public struct EdgeLimits: Sendable, Equatable {
    /// An access token in `Authorization: Bearer` (RFC 8725 §3.1 does not cap; 8 KiB is generous).
    public var maxTokenBytes: Int
    /// A request body; over it: 413.
    public var maxBodyBytes: Int
    /// A request head, all header fields together; over it: 431.
    public var maxHeadBytes: Int
    /// Header fields in one request; over it: 431.
    public var maxHeaderFields: Int
    /// A keep-alive connection with no request in progress is closed after this
    /// (`--idle-timeout`; Hummingbird's connection state handler enforces it).
    public var idleTimeout: Duration
    /// A request head must be complete this long after its first byte, and a body must not
    /// pause longer than this: else 408 and the connection is closed (`--header-timeout`).
    public var headerTimeout: Duration
    /// Connections served at once; beyond it new ones are closed at once (`--max-connections`).
    public var maxConnections: Int

    public init(
        maxTokenBytes: Int = 8192,
        maxBodyBytes: Int = 65_536,
        maxHeadBytes: Int = 32_768,
        maxHeaderFields: Int = 100,
        idleTimeout: Duration = .seconds(60),
        headerTimeout: Duration = .seconds(10),
        maxConnections: Int = 10_000
    ) {
        self.maxTokenBytes = maxTokenBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderFields = maxHeaderFields
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.maxConnections = maxConnections
    }

    /// The contract's limits.
    public static let standard = EdgeLimits()
}
