import GRDB
import HTTPEdge

/// SQLite's own message (and result code) may be logged: GRDB keeps statement arguments out
/// of it unless told otherwise, so no password hash, token hash or name is quoted.
extension DatabaseError: LogSafeError {
    public var logSafeMessage: String {
        "SQLite error \(self.resultCode.rawValue): \(self.message ?? "no message")"
    }
}
