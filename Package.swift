// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "jwt-pair",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "issuer", targets: ["Issuer"]),
        .executable(name: "resource-api", targets: ["ResourceAPI"]),
        .executable(name: "rotation-drill", targets: ["RotationDrill"]),
        .library(name: "SharedJWT", targets: ["SharedJWT"]),
        // For the fuzz targets (Fuzz/): header and body parsing.
        .library(name: "ServiceSupport", targets: ["ServiceSupport"]),
        // For the micro-benchmarks package (Benchmarks/): the key-cache lookup.
        .library(name: "ResourceAPICore", targets: ["ResourceAPICore"]),
    ],
    dependencies: [
        // No traits: the default "FullFoundation" links all of Foundation (and ICU, ~9 MB of
        // resident memory) into both services; FoundationEssentials is all they need.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // TLS on both services' edge (HTTPEdge/TLS/): NIOSSLServerHandler over a context that
        // SIGHUP can swap. Hummingbird already resolves it (for HummingbirdTLS).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: C bindings
        .target(
            name: "COpenSSL",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        .target(
            name: "CHTTP",
            linkerSettings: [.linkedLibrary("curl")]
        ),

        // MARK: Libraries
        .target(
            name: "SharedJWT",
            dependencies: ["COpenSSL"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ServiceSupport",
            dependencies: [
                "SharedJWT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP edge both services share: responses, errors, method policy, limits, request
        // metrics and log line, and the fast path. Apart from ServiceSupport, whose pure
        // parsers the fuzz targets build without NIO.
        .target(
            name: "HTTPEdge",
            dependencies: [
                "SharedJWT",
                "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CurlClient",
            dependencies: [
                "CHTTP",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IssuerCore",
            dependencies: [
                "SharedJWT",
                "ServiceSupport",
                "HTTPEdge",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // SIGHUP (reload keys) as an async sequence.
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // glibc's mallopt, for the ResourceAPI's arena limit.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(
            name: "ResourceAPICore",
            dependencies: [
                "CMalloc",
                "SharedJWT",
                "ServiceSupport",
                "HTTPEdge",
                "CurlClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // SIGHUP (reload the TLS certificate and key) as an async sequence.
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                // The /api and /healthz fast path is a channel handler in Hummingbird's HTTP/1 pipeline.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables (thin mains)
        .executableTarget(name: "Issuer", dependencies: ["IssuerCore"], swiftSettings: swiftSettings),
        .executableTarget(name: "ResourceAPI", dependencies: ["ResourceAPICore"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "RotationDrill",
            dependencies: [
                "CurlClient",
                "SharedJWT",
                "ServiceSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .testTarget(
            name: "HTTPEdgeTests",
            dependencies: [
                "HTTPEdge",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SharedJWTTests", dependencies: ["SharedJWT", "COpenSSL"], swiftSettings: swiftSettings),
        // The configuration layer of the three executables (ServiceSupport/Configuration/),
        // in-process and through the built binaries.
        .testTarget(
            name: "ServiceSupportTests",
            dependencies: [
                "ServiceSupport",
                "SharedJWT",
                "TestTLS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CurlClientTests",
            dependencies: [
                "CurlClient",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // A CA and server certificates made at test time with the system's openssl (TLS tests).
        .target(name: "TestTLS", path: "Tests/TestTLS", swiftSettings: swiftSettings),
        // For the tests of both fast paths: several requests in one write, bodies on GET.
        .target(name: "HTTPPipelining", path: "Tests/HTTPPipelining", swiftSettings: swiftSettings),
        .testTarget(
            name: "IssuerTests",
            dependencies: [
                "IssuerCore",
                // ReadinessTests breaks a live store from outside through its own connection.
                .product(name: "GRDB", package: "GRDB.swift"),
                "HTTPEdge",
                "SharedJWT",
                "ServiceSupport",
                "HTTPPipelining",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ResourceAPITests",
            dependencies: [
                "ResourceAPICore",
                "HTTPEdge",
                "SharedJWT",
                "ServiceSupport",
                "HTTPPipelining",
                "CurlClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AttackTests",
            dependencies: [
                "HTTPPipelining",
                "HTTPEdge",
                "ResourceAPICore",
                "IssuerCore",
                "SharedJWT",
                "CurlClient",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "IssuerCore",
                "ResourceAPICore",
                "ServiceSupport",
                "SharedJWT",
                "CurlClient",
                "TestTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
