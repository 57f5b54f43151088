import CoreMetrics
import CurlClient
import HTTPEdge
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import ServiceSupport
import SharedJWT
import UnixSignals

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
    /// Set when this instance made its own client: stopped with the application.
    let ownedClient: CurlClient?

    /// `client`: where discovery, JWK Set and revocation fetches run. By default each
    /// instance gets a client with two threads of its own, so nothing else in the process
    /// (tests, a drill, another instance) can hold up its key fetches.
    public init(
        configuration: ResourceAPIConfiguration,
        logger: Logger,
        client given: CurlClient? = nil,
        metrics: ResourceAPIMetrics = ResourceAPIMetrics()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
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

    /// The decision core both HTTP paths call.
    var core: APICore {
        APICore(verifier: self.verifier, metrics: self.metrics, limits: self.configuration.limits)
    }

    /// Every route: the method policy, the 404s and the metrics labels come from this table.
    static let routeTable = EdgeRouteTable(
        [("/healthz", .get), ("/readyz", .get), ("/metrics", .get)] + APIRoute.allCases.filter(\.needsToken).map { ($0.path, .get) }
    )

    public func makeRouter() -> Router<ResourceRequestContext> {
        // HEAD answers like GET without the body (RFC 9110 §9.3.2).
        let router = Router(context: ResourceRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: EdgeMiddleware(table: Self.routeTable, metrics: self.metrics.requests, limits: self.configuration.limits))

        let core = self.core
        router.get("/healthz") { request, _ in
            await core.answer(.healthz, head: request.head).response
        }
        router.get("/readyz") { _, _ in
            self.readiness()
        }
        router.get("/metrics") { _, _ in
            self.keys.updateGauges()
            self.metrics.revocationsHeld.set(Double(self.revocations.count))
            return Response(
                status: .ok,
                headers: [.contentType: EdgeConventions.metricsContentType],
                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.render()))
            )
        }
        // The routes the fast path answers too (APIFastRoutes), for the requests it passes
        // on (a key fetch to wait for, a query or a body) and with the fast path off.
        router.get("/api/greet") { request, _ in
            await core.answer(.greet, head: request.head).response
        }
        router.get("/api/me") { request, _ in
            await core.answer(.me, head: request.head).response
        }
        router.get("/api/admin/greet") { request, _ in
            await core.answer(.adminGreet, head: request.head).response
        }
        return router
    }

    /// The application on `configuration.host`/`port` (0: the OS picks; `onServerRunning`
    /// gets the port); HTTPS with `tls` (made from `configuration.tls`), whose certificate
    /// and key are re-read on each of `hangups` (SIGHUP).
    public func makeApplication(
        tls: ServerTLSContext? = nil,
        hangups: UnixSignalsSequence? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let fastRoutes = self.configuration.fastPath ? APIFastRoutes(core: self.core) : nil
        return Application(
            router: self.makeRouter(),
            server: EdgeServer.http1(routes: fastRoutes, metrics: self.metrics.requests, limits: self.configuration.limits, tls: tls),
            configuration: .init(address: .hostname(self.configuration.host, port: self.configuration.port)),
            // ServiceGroup stops services in reverse order: the client's threads go last,
            // after the cache and the poller have finished their fetches.
            services: [
                ClientShutdownService(client: self.ownedClient), self.keys, self.poller,
                TLSReloadService(tls: tls, hangups: hangups, logger: self.logger),
            ],
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

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        EdgeResponse.json(status, value).response
    }
}
