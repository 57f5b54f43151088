// swift-tools-version:6.1
// Micro-benchmarks (ordo-one/package-benchmark), kept out of the root package so that
// `swift build` / `swift test` / `make test` never fetch or build the benchmark tooling.
// Run: `make microbench` (or `swift package benchmark` in this folder).
import PackageDescription

let package = Package(
    name: "jwt-pair-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "SharedJWTBenchmarks",
            dependencies: [
                .product(name: "SharedJWT", package: "main"),
                .product(name: "ResourceAPICore", package: "main"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/SharedJWTBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
