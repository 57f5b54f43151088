import HTTPTypes
import Logging
import Synchronization

/// The one request log line of both services, on both paths: method, path without the
/// query (a misused query string could carry a token), route, status, duration and a
/// request id. At `debug`: a busy service would otherwise log more than it answers.
public enum RequestLog {
    /// The metadata key of the request id; Hummingbird's router path uses the same key.
    public static let requestIDKey = "hb.request.id"

    private static let nextID = Atomic<UInt64>(UInt64.random(in: 0..<(1 << 40)) << 20)

    /// A request id for a request no router saw: unique within the process.
    public static func makeRequestID() -> String {
        let value = self.nextID.wrappingAdd(1, ordering: .relaxed).newValue
        return String(value, radix: 16)
    }

    /// Logs the line when `logger` logs at `debug`; `requestID` nil makes one.
    public static func emit(
        _ logger: Logger,
        requestID: String?,
        method: HTTPRequest.Method,
        path: String?,
        route: String,
        status: HTTPResponse.Status,
        nanoseconds: UInt64
    ) {
        guard logger.logLevel <= .debug else { return }
        let plainPath = path.map { path in path.firstIndex(of: "?").map { String(path[..<$0]) } ?? path } ?? ""
        var metadata: Logger.Metadata = [
            "method": .string(method.rawValue),
            "path": .string(plainPath),
            "route": .string(route),
            "status": .stringConvertible(status.code),
            "duration_ms": .stringConvertible(Double(nanoseconds / 1000) / 1000),
        ]
        if logger[metadataKey: self.requestIDKey] == nil {
            metadata[self.requestIDKey] = .string(requestID ?? self.makeRequestID())
        }
        logger.debug("request", metadata: metadata)
    }
}
