import CurlClient
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceSupport
import CoreMetrics
import ServiceLifecycle
import SharedJWT

/// The ResourceAPI's parts, wired together: key cache, revocation feed, verifier, router.
/// `makeApplication` turns it into a Hummingbird application whose ServiceGroup also runs
/// the key cache and the revocation poller.
public struct ResourceAPI: Sendable {
    public let configuration: ResourceAPIConfiguration
    public let logger: Logger
    public let metrics: ResourceAPIMetrics
    public let keys: JWKSCache
    public let revocations: RevocationList
    public let poller: RevocationPoller
    public let verifier: TokenVerifier
    let hotRouteMetrics: HotRouteMetrics
    /// Set when this instance made its own client: stopped with the application.
    let ownedClient: CurlClient?

    /// `client`: where discovery, JWK Set and revocation fetches run. By default each
    /// instance gets a client with two threads of its own, so nothing else in the process
    /// (tests, a drill, another instance) can hold up its key fetches.
    public init(
        configuration: ResourceAPIConfiguration,
        logger: Logger,
        client given: CurlClient? = nil,
        metrics: ResourceAPIMetrics = ResourceAPIMetrics(),
        requestMetricsFactory: (any MetricsFactory)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        // Where Hummingbird's MetricsMiddleware records too, unless told otherwise (tests).
        self.hotRouteMetrics = HotRouteMetrics(factory: requestMetricsFactory ?? MetricsSystem.factory)
        let client: CurlClient
        if let given {
            client = given
            self.ownedClient = nil
        } else {
            client = CurlClient.withOwnThreadPool(threads: 2)
            self.ownedClient = client
        }
        self.keys = JWKSCache(configuration: configuration, client: client, metrics: metrics, logger: logger)
        self.revocations = RevocationList(leeway: Int64(configuration.leeway.seconds))
        self.poller = RevocationPoller(
            configuration: configuration,
            client: client,
            list: self.revocations,
            keys: self.keys,
            metrics: metrics,
            logger: logger
        )
        self.verifier = TokenVerifier(
            keys: self.keys,
            revocations: self.revocations,
            verifiedCacheSize: configuration.verifiedTokenCacheSize,
            metrics: metrics
        )
    }

    static let maxTokenBytes = 8192

    var hotRouteResponder: HotRouteResponder {
        HotRouteResponder(verifier: self.verifier, metrics: self.hotRouteMetrics, apiMetrics: self.metrics, maxTokenBytes: Self.maxTokenBytes)
    }

    public func makeRouter() -> Router<ResourceRequestContext> {
        // HEAD answers like GET without the body (RFC 9110 §9.3.2).
        let router = Router(context: ResourceRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware(logger: self.logger))
        router.add(middleware: BodyLimitMiddleware(maxBytes: self.configuration.maxRequestBodyBytes))

        router.get("/healthz") { _, _ in
            HotRouteResponder.healthz().hummingbirdResponse
        }
        router.get("/readyz") { _, _ in
            self.readiness()
        }
        router.get("/metrics") { _, _ in
            self.keys.updateGauges()
            self.metrics.revocationsHeld.record(self.revocations.count)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.render())))
        }

        // The same routes as the fast path (FastPath.swift) answers, for the requests it
        // passes on: those that wait for a key fetch, carry a query or a body, or are HEAD.
        let hot = self.hotRouteResponder
        let api = router.group("api")
            .add(middleware: BearerMiddleware(verifier: self.verifier, metrics: self.metrics, maxTokenBytes: Self.maxTokenBytes))
        api.get("greet") { _, context in
            try hot.respond(.greet, claims: try Self.claims(context)).hummingbirdResponse
        }
        api.get("me") { _, context in
            try hot.respond(.me, claims: try Self.claims(context)).hummingbirdResponse
        }
        api.get("admin/greet") { _, context in
            try hot.respond(.adminGreet, claims: try Self.claims(context)).hummingbirdResponse
        }
        return router
    }

    /// The application on `configuration.host`/`port` (0: the OS picks; `onServerRunning`
    /// gets the port).
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let hot = self.hotRouteResponder
        return Application(
            router: self.makeRouter(),
            server: HTTPServerBuilder { responder in
                ResourceAPIChildChannel(http1: HTTP1Channel(responder: responder), responder: hot)
            },
            configuration: .init(address: .hostname(self.configuration.host, port: self.configuration.port)),
            // ServiceGroup stops services in reverse order: the client's threads go last,
            // after the cache and the poller have finished their fetches.
            services: [ClientShutdownService(client: self.ownedClient), self.keys, self.poller],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            eventLoopGroupProvider: .shared(ResourceAPIEventLoops.group),
            logger: self.logger
        )
    }

    func readiness() -> Response {
        let status = self.keys.status
        var members: [(key: String, value: JSONValue)] = [
            ("ready", .bool(status.ready)),
            ("kids", .array(status.kids.map(JSONValue.string))),
            ("jwks_age_seconds", status.age.map { .number(($0 * 1000).rounded() / 1000) } ?? .null),
            ("revocation_cursor", self.revocations.cursor.map { .number(Double($0)) } ?? .null),
            ("revocations_held", .number(Double(self.revocations.count))),
        ]
        if let source = status.source {
            members.append(("issuer", .string(source.expectedIssuer)))
            members.append(("jwks_url", .string(source.jwksURL)))
        }
        return Self.json(status.ready ? .ok : .serviceUnavailable, .object(members))
    }

    static func claims(_ context: ResourceRequestContext) throws -> JWTClaims {
        // The bearer middleware guards every /api route; no claims means it was bypassed.
        guard let claims = context.claims else { throw BearerError.missing }
        return claims
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }
}

/// Waits for shutdown, then stops the ResourceAPI's own curl threads.
struct ClientShutdownService: Service {
    let client: CurlClient?

    func run() async throws {
        try? await gracefulShutdown()
        await self.client?.shutdown()
    }
}

/// Builds the ResourceAPI application, for `resource-api serve` and for in-process tests
/// (port 0; the chosen port reaches `onServerRunning`).
public func makeResourceAPIApplication(
    configuration: ResourceAPIConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    ResourceAPI(configuration: configuration, logger: logger).makeApplication(onServerRunning: onServerRunning)
}

/// The server's event loops: one per CPU the process may run on (see `AvailableCPUs`).
/// Pinned to one core, two loops measured 70–75k hot-token req/s and one 80k: more loops
/// than CPUs only take turns, each with its own wake-ups.
enum ResourceAPIEventLoops {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: AvailableCPUs.eventLoops(coreCount: System.coreCount))
}
