import Foundation
import HTTPEdge
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import ServiceSupport
import SharedJWT
import UnixSignals

/// The Issuer as one Hummingbird application type.
public typealias IssuerApplication = Application<RouterResponder<IssuerRequestContext>>

/// Builds the Issuer: opens the store, loads (or creates) the keys, and wires every route.
/// Throws `KeyDirectoryError` on a bad key directory (e.g. a group-readable key file).
/// Binds `configuration.host`:`configuration.port` (0: the OS chooses; `onServerRunning`
/// receives the bound port).
public func makeIssuerApplication(
    configuration: IssuerConfiguration,
    logger: Logger,
    metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    handleSIGHUP: Bool = false,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> IssuerApplication {
    // Refused before anything is opened or said: the first line of the output names the option.
    let keyDirectory = KeyDirectory(path: configuration.keysDirectory, keyBits: configuration.keyBits)
    if keyDirectory.isReadOnly, configuration.rotateEvery != nil {
        throw ConfigurationError(
            option: "--rotate-every",
            problem: "the keys directory \(configuration.keysDirectory) is read-only: nothing can rotate on a schedule "
                + "(drop the option, or make the directory writable)"
        )
    }
    // TLS first: a bad certificate or key stops the start before the store is opened.
    let tls = try configuration.tls.map { files throws(ConfigurationError) in try ServerTLSContext(files: files) }
    let opened = try await IssuerStores.open(configuration, logger: logger)
    let store = opened.store
    let keyRing = KeyRing(directory: keyDirectory, policy: configuration.lifecyclePolicy, clock: configuration.clock, logger: logger)
    try keyRing.start()
    if opened.createdFile {
        // After the keys: a start refused for its keys says that first. A restart that lost its
        // database would otherwise start with no users, silently.
        logger.warning(
            "no store was at \(configuration.databasePath): created a new, empty one (no users, no clients)",
            metadata: ["store": .string(configuration.databasePath)]
        )
    }
    let hasher = PasswordHasher(cost: configuration.bcryptCost)
    let metrics = IssuerMetrics(registry: metricsRegistry)
    let tokens = TokenService(configuration: configuration, keyRing: keyRing, store: store)
    let refreshGrant = RefreshGrantCore(
        tokens: tokens,
        committer: store.makeCommitter(metrics: metrics.refreshCommits),
        metrics: metrics,
        logger: logger,
        eventLoopGroup: IssuerEventLoops.group
    )
    let routes = IssuerRoutes(
        configuration: configuration,
        store: store,
        keyRing: keyRing,
        tokens: tokens,
        hasher: hasher,
        // On PostgreSQL the failure counts are the database's: every replica enforces the same limits.
        userLimiter: LoginRateLimiter(
            maxFailures: configuration.maxLoginFailures,
            window: Double(configuration.loginFailureWindow),
            shared: opened.sharedLoginFailures,
            sharedPrefix: "user:"
        ),
        addressLimiter: LoginRateLimiter(
            maxFailures: configuration.maxLoginFailuresPerAddress,
            window: Double(configuration.loginFailureWindow),
            shared: opened.sharedLoginFailures,
            sharedPrefix: "addr:"
        ),
        metrics: metrics,
        refreshGrant: refreshGrant,
        renderMetrics: { metricsRegistry.emitToString() }
    )
    let router = Router(context: IssuerRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: EdgeMiddleware(table: routes.routeTable, metrics: metrics.requests, limits: configuration.limits))
    routes.register(on: router)

    // The SIGHUP handler is in place before the server accepts anything, so a SIGHUP
    // sent as soon as the server is up is never lost.
    // The initializer returns once the signal source is registered; SIGHUP is ignored first
    // so that one arriving in between cannot terminate the process.
    let hangups: UnixSignalsSequence?
    if handleSIGHUP {
        signal(SIGHUP, SIG_IGN)
        hangups = await UnixSignalsSequence(trapping: .sighup)
    } else {
        hangups = nil
    }
    let maintenance = IssuerMaintenanceService(
        keyRing: keyRing,
        store: store,
        configuration: configuration,
        hangups: hangups,
        tls: tls,
        logger: logger
    )
    // Refresh grants of /token answered on the event loop (TokenFastRoutes), unless switched off.
    let fastRoutes = configuration.fastPath ? TokenFastRoutes(core: refreshGrant) : nil
    return Application(
        router: router,
        server: EdgeServer.http1(routes: fastRoutes, metrics: metrics.requests, limits: configuration.limits, tls: tls),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        // The pool first: services stop in reverse order, so it outlives the server's last request.
        services: (opened.service.map { [$0] } ?? []) + [maintenance],
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            logger.info(
                "issuer listening",
                metadata: [
                    "host": .string(configuration.host), "port": "\(port)", "iss": .string(configuration.issuerURL),
                    "scheme": .string(tls == nil ? "http" : "https"),
                    "store": .string(opened.description),
                ]
            )
            await onServerRunning(port)
        },
        eventLoopGroupProvider: .shared(IssuerEventLoops.group),
        logger: logger
    )
}

/// The Issuer's event loops: one per CPU it may run on (see `AvailableCPUs`). Signing is
/// CPU work done on the loops; more loops than CPUs only take turns.
enum IssuerEventLoops {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: AvailableCPUs.eventLoops(coreCount: System.coreCount))
}

/// Background work: re-reads keys/ (every `keyReloadInterval` and on SIGHUP) and the TLS
/// certificate and key (on SIGHUP), applies
/// the lifecycle timers (auto-retire, --rotate-every), purges expired rows.
struct IssuerMaintenanceService: Service {
    let keyRing: KeyRing
    let store: any IssuerStore
    let configuration: IssuerConfiguration
    /// SIGHUP (swift-service-lifecycle's `UnixSignals`); nil when not handled (tests).
    let hangups: UnixSignalsSequence?
    /// The HTTPS context, reloaded on SIGHUP; nil over plain HTTP.
    var tls: ServerTLSContext? = nil
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if let hangups {
                group.addTask {
                    // Ends when the task group is cancelled (the stream's iterator is cancellable).
                    for await _ in hangups {
                        logger.info(tls == nil ? "SIGHUP: reloading keys" : "SIGHUP: reloading keys and the TLS certificate")
                        keyRing.refresh()
                        tls?.reload(logger: logger)
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: configuration.keyReloadInterval) } catch { return }
                    keyRing.refresh()
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: configuration.purgeInterval) } catch { return }
                    do {
                        try await store.purgeExpired(now: configuration.clock())
                    } catch {
                        logger.warning("purge failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            // Stop the loops on graceful shutdown (the server finishes in-flight requests).
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}

extension IssuerMaintenanceService: CustomStringConvertible {
    /// The service's name only: swift-service-lifecycle logs it at debug level, and the
    /// default (every stored property) would print the configuration.
    var description: String { "IssuerMaintenanceService" }
}
