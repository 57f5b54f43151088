import Logging

/// Keeps the metadata set on a logger (Hummingbird gives every request's logger a request
/// id) and hands it to the wrapped handler only when a line is written: StreamLogHandler
/// renders its metadata to text on every change, i.e. on every request, logged or not.
public struct DeferredMetadataLogHandler: LogHandler {
    private var inner: any LogHandler
    public var metadata: Logger.Metadata

    /// Defers the metadata of `inner`.
    public init(_ inner: any LogHandler) {
        self.inner = inner
        self.metadata = inner.metadata
    }

    public var logLevel: Logger.Level {
        get { self.inner.logLevel }
        set { self.inner.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { self.inner.metadataProvider }
        set { self.inner.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var handler = self.inner
        handler.metadata = self.metadata
        handler.log(event: event)
    }
}
