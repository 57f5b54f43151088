import Logging

/// Wraps a log handler so that no line carries a URL's password: the message, the
/// logger's metadata and the event's metadata go through `SecretRedaction` first.
/// Every logger of the three executables has one (`LoggingSetup`), so a store URL is
/// masked in any line at any level, including swift-service-lifecycle's own.
public struct RedactingLogHandler: LogHandler {
    private var inner: any LogHandler

    /// Redacts what reaches `inner`.
    public init(_ inner: any LogHandler) {
        self.inner = inner
    }

    public var logLevel: Logger.Level {
        get { self.inner.logLevel }
        set { self.inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { self.inner.metadata }
        set { self.inner.metadata = SecretRedaction.redact(newValue) }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { self.inner.metadataProvider }
        set { self.inner.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.inner[metadataKey: key] }
        set { self.inner[metadataKey: key] = newValue.map { (value: Logger.MetadataValue) in SecretRedaction.redact(value) } }
    }

    public func log(event: LogEvent) {
        var event = event
        let message = event.message.description
        if message.contains("://") { event.message = "\(SecretRedaction.redact(message))" }
        if let metadata = event.metadata { event.metadata = SecretRedaction.redact(metadata) }
        self.inner.log(event: event)
    }
}
