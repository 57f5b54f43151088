import HTTPEdge

/// Why the store cannot be trusted with a write, as `/readyz` and the log say it.
public struct StoreHealthError: Error, LogSafeError, CustomStringConvertible {
    /// The reason in words, naming the file when there is one.
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    public var logSafeMessage: String { self.description }
}
