import HTTPTypes

/// The paths a service serves and the methods of each: the method policy of both services.
///
/// A known path asked with another method gets 405 with `Allow`; `HEAD` is served wherever
/// `GET` is (RFC 9110 §9.3.2); any other path gets 404. The table also names the `route`
/// label of the request metrics.
public struct EdgeRouteTable: Sendable {
    private var methods: [String: [HTTPRequest.Method]] = [:]

    public init() {}

    /// A table of `(path, method)` pairs.
    public init(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        for route in routes { self.add(route.path, route.method) }
    }

    /// Adds one route.
    public mutating func add(_ path: String, _ method: HTTPRequest.Method) {
        var served = self.methods[path, default: []]
        if !served.contains(method) { served.append(method) }
        if method == .get, !served.contains(.head) { served.append(.head) }
        self.methods[path] = served
    }

    /// The methods `path` serves, in the order registered (`HEAD` after `GET`); nil for an unknown path.
    public func allowed(_ path: String) -> [HTTPRequest.Method]? {
        self.methods[path]
    }

    /// The metrics `route` label: the path when a route serves it, else `unknown`.
    public func routeLabel(_ path: String) -> String {
        self.methods[path] == nil ? RequestMetrics.unknownRoute : path
    }

    /// The refusal of a request no handler took: 405 with `Allow` for a known path, else 404.
    public func refusal(path: String) -> EdgeError {
        guard let allowed = self.methods[path] else { return .notFound }
        return .methodNotAllowed(path: path, allowed: allowed)
    }
}
