import Synchronization

/// The connections a server holds open, against `EdgeLimits.maxConnections`.
public final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    /// The cap.
    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    /// Counts a new connection if there is room; false: it must be closed at once.
    public func acquire() -> Bool {
        let now = self.open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > self.limit {
            self.open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// A counted connection closed.
    public func release() {
        self.open.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Connections counted now.
    public var count: Int { self.open.load(ordering: .relaxed) }
}
