/// `--log-format`: how every log line is written on standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's `StreamLogHandler` lines.
    case text
    /// One JSON object per line (`JSONLogHandler`).
    case json
}
