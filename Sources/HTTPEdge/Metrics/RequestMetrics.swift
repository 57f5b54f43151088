import HTTPTypes
import Prometheus
import Synchronization

/// `http_server_requests_total{method,route,status}` and
/// `http_server_request_duration_seconds{method,route,status}`: every request of a
/// service, whichever path answered it, errors included.
///
/// `route` is the path as routed (`/api/greet`), or `unknown` for a path no route serves,
/// so the label set stays bounded whatever clients send.
public final class RequestMetrics: Sendable {
    /// One time series: its counter and its histogram.
    public struct Series: Sendable {
        let requests: Counter
        let duration: DurationHistogram

        /// Counts one request that took `nanoseconds`.
        public func record(nanoseconds: UInt64) {
            self.requests.increment()
            self.duration.recordNanoseconds(Int64(clamping: nanoseconds))
        }
    }

    struct Key: Hashable {
        var method: HTTPRequest.Method
        var route: String
        var status: Int
    }

    /// The route label of a request no route serves.
    public static let unknownRoute = "unknown"

    /// From 100 µs (a cached verification answers in tens of microseconds) to 10 s.
    public static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    private let registry: PrometheusCollectorRegistry
    private let series = Mutex<[Key: Series]>([:])

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The series of one method, route and status; made on first use, then looked up.
    public func series(method: HTTPRequest.Method, route: String, status: HTTPResponse.Status) -> Series {
        let key = Key(method: method, route: route, status: status.code)
        return self.series.withLock { table in
            if let found = table[key] { return found }
            let labels = [("method", method.rawValue), ("route", route), ("status", String(status.code))]
            let made = Series(
                requests: self.registry.makeCounter(
                    descriptor: .init(
                        metricName: "http_server_requests",
                        unitName: "total",
                        helpText: "HTTP requests answered, by method, route and status."
                    ),
                    labels: labels
                ),
                duration: self.registry.makeDurationHistogram(
                    descriptor: .init(
                        metricName: "http_server_request_duration",
                        unitName: "seconds",
                        helpText: "Time from a request's head to its answer, by method, route and status."
                    ),
                    labels: labels,
                    buckets: Self.buckets
                )
            )
            table[key] = made
            return made
        }
    }

    /// Counts one request.
    public func record(method: HTTPRequest.Method, route: String, status: HTTPResponse.Status, nanoseconds: UInt64) {
        self.series(method: method, route: route, status: status).record(nanoseconds: nanoseconds)
    }
}
