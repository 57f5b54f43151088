import Foundation

/// `EDGE_FAST_PATH=off` runs a suite with every request through Hummingbird's router
/// (`make test` runs the endpoint, errors-table and attack suites both ways).
enum EdgeSwitch {
    static var fastPath: Bool { ProcessInfo.processInfo.environment["EDGE_FAST_PATH"] != "off" }
}
