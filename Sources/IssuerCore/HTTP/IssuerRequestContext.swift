import Hummingbird
import NIOCore

/// Request context: Hummingbird's core storage plus the client address for rate limits.
public struct IssuerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String
    /// The connection's event loop: where refresh commits answer (`RefreshCommitter`).
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        self.eventLoop = source.channel.eventLoop
    }

    /// Bodies over 64 KiB get 413.
    public var maxUploadSize: Int { IssuerLimits.maxBodyBytes }
}
