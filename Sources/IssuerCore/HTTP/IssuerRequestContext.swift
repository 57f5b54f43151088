import Hummingbird
import NIOCore

/// Request context: Hummingbird's core storage plus the client address for rate limits.
public struct IssuerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Bodies over 64 KiB get 413.
    public var maxUploadSize: Int { IssuerLimits.maxBodyBytes }
}
