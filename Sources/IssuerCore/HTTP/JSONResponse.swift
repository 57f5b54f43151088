import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird

/// JSON answers of the Issuer's routes.
enum JSONResponse {
    static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        self.edge(status: status, value, headers: headers).response
    }

    static func make(status: HTTPResponse.Status = .ok, bytes: some Collection<UInt8>, headers: HTTPFields = [:]) -> Response {
        EdgeResponse.json(status, bytes: Array(bytes), headers: headers).response
    }

    /// An `Encodable` value, keys sorted.
    static func edge(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> EdgeResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return EdgeResponse.json(status, bytes: Array(data), headers: headers)
    }

    /// RFC 6749 §5.1: a token response is never cached.
    static func token(_ response: TokenResponse) -> EdgeResponse {
        let headers: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]
        if let body = response.sortedJSON() { return EdgeResponse.json(.ok, bytes: body, headers: headers) }
        return self.edge(response, headers: headers)
    }
}
