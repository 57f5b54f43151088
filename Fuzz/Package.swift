// swift-tools-version:6.1
// libFuzzer targets. Build and run with `make fuzz` (or `make fuzz-smoke`, which `make test`
// calls): `swift build --package-path Fuzz --sanitize=fuzzer --sanitize=address`.
import PackageDescription

let package = Package(
    name: "Fuzz",
    dependencies: [.package(name: "jwt-pair", path: "..")],
    targets: [
        .executableTarget(name: "FuzzToken", dependencies: [.product(name: "SharedJWT", package: "jwt-pair")]),
        .executableTarget(name: "FuzzJWKSet", dependencies: [.product(name: "SharedJWT", package: "jwt-pair")]),
        .executableTarget(name: "FuzzJSON", dependencies: [.product(name: "SharedJWT", package: "jwt-pair")]),
        .executableTarget(name: "FuzzAuthorization", dependencies: [.product(name: "ServiceSupport", package: "jwt-pair")]),
        .executableTarget(name: "FuzzRequestBody", dependencies: [.product(name: "ServiceSupport", package: "jwt-pair")]),
    ]
)
