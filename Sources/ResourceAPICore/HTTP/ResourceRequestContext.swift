import HTTPEdge
import Hummingbird

/// The ResourceAPI's request context: Hummingbird's, with the edge's body limit.
public struct ResourceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// What Hummingbird lets a handler collect; `EdgeMiddleware` refuses more first.
    public var maxUploadSize: Int { EdgeLimits.standard.maxBodyBytes }
}
