import Logging

/// An error whose message may go into a log line as it is.
///
/// The edge logs an unexpected error by its type only, because a description may quote
/// request data (a password, a token). An error that conforms promises its
/// `logSafeMessage` never does: the database's own message, say ("attempt to write a
/// readonly database"), without the statement's arguments.
public protocol LogSafeError: Error {
    /// The cause in the words of the component that failed.
    var logSafeMessage: String { get }
}

/// The metadata of the log line for an unexpected error.
public enum ErrorLogMetadata {
    /// The error's type, and its message when it is a `LogSafeError`.
    public static func of(_ error: any Error) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["error.type": .string(String(reflecting: type(of: error)))]
        if let safe = error as? any LogSafeError {
            metadata["error.message"] = .string(safe.logSafeMessage)
        }
        return metadata
    }
}
