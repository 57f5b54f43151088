import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import HTTPEdge
import ServiceSupport
import SharedJWT
import Synchronization

/// Request context: Hummingbird's core storage plus the client address for rate limits.
public struct IssuerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String
    /// The connection's event loop: where refresh commits answer (`RefreshCommitter`).
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        self.eventLoop = source.channel.eventLoop
    }

    /// Bodies over 64 KiB get 413.
    public var maxUploadSize: Int { IssuerLimits.maxBodyBytes }
}

enum IssuerLimits {
    static let maxBodyBytes = EdgeLimits.standard.maxBodyBytes
    /// Longest username, password, client id, token... we look at.
    static let maxFieldBytes = 8 * 1024
}

/// The Issuer's refusals are the edge's one error type, with OAuth's names.
typealias OAuthError = EdgeError

extension EdgeError {
    /// The RFC 6749 `error` code.
    var error: String { self.code }
    /// The `error_description`.
    var errorDescription: String { self.description }

    static func invalidGrant(_ description: String) -> EdgeError { .init(.unauthorized, "invalid_grant", description) }
    static func invalidClient(_ description: String) -> EdgeError {
        .init(.unauthorized, "invalid_client", description, headers: [.wwwAuthenticate: Challenge.basic(realm: "issuer")])
    }
    static func invalidToken(_ description: String) -> EdgeError {
        .init(
            .unauthorized, "invalid_token", description,
            headers: [.wwwAuthenticate: Challenge.bearer(realm: "issuer", error: "invalid_token", description: description)]
        )
    }
}

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

/// A parsed request body: JSON object members or form fields, all strings.
struct BodyFields {
    var values: [String: String]

    subscript(name: String) -> String? { values[name] }

    /// A required, non-empty field of bounded length.
    func required(_ name: String, error: (String) -> OAuthError = OAuthError.invalidRequest) throws -> String {
        guard let value = values[name], !value.isEmpty else { throw error("missing \(name)") }
        guard value.utf8.count <= IssuerLimits.maxFieldBytes else { throw error("\(name) is too long") }
        return value
    }

    func optional(_ name: String) throws -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        guard value.utf8.count <= IssuerLimits.maxFieldBytes else { throw OAuthError.invalidRequest("\(name) is too long") }
        return value
    }
}

enum BodyKind {
    case json, form
}

/// Reads and parses bodies with the 64 KiB cap.
enum BodyReader {
    static func collect(_ request: inout Request) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: IssuerLimits.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw EdgeError.bodyTooLarge(limit: IssuerLimits.maxBodyBytes)
        }
    }

    static func mediaType(_ request: Request) -> String? {
        mediaType(of: request.headers[.contentType])
    }

    /// The media type of a Content-Type value, lowercased, without parameters.
    static func mediaType(of value: String?) -> String? {
        guard let value else { return nil }
        // ASCII (every real Content-Type): the same answer without Foundation's
        // CharacterSet trimming and Unicode lowercasing, which cost more than the rest
        // of the form parsing.
        if value.utf8.allSatisfy({ $0 < 0x80 }) {
            guard let first = value.utf8.split(separator: UInt8(ascii: ";")).first else { return nil }
            let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var bytes = first.drop(while: isBlank)
            while let last = bytes.last, isBlank(last) { bytes = bytes.dropLast() }
            return String(decoding: bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }, as: UTF8.self)
        }
        return value.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
    }

    /// Accepts the listed kinds; any other Content-Type is a malformed request
    /// (400 invalid_request, the contract's status for a bad body).
    static func fields(_ request: inout Request, accept kinds: Set<BodyKind>) async throws -> BodyFields {
        let body = try await collect(&request)
        let type = mediaType(request)
        let bytes = Array(body.readableBytesView)
        if type == "application/json" && kinds.contains(.json) {
            return try parseJSON(bytes)
        }
        if type == "application/x-www-form-urlencoded" && kinds.contains(.form) {
            return try parseForm(bytes)
        }
        let expected = kinds.sorted { $0 == .json && $1 == .form }.map {
            $0 == .json ? "application/json" : "application/x-www-form-urlencoded"
        }.joined(separator: " or ")
        throw OAuthError.invalidRequest("Content-Type must be \(expected)")
    }

    static func parseJSON(_ bytes: [UInt8]) throws -> BodyFields {
        do {
            return BodyFields(values: try BodyFieldsParser.parseJSONObject(bytes))
        } catch {
            throw OAuthError.invalidRequest(error.description)
        }
    }

    static func parseForm(_ bytes: [UInt8]) throws -> BodyFields {
        do {
            return BodyFields(values: try BodyFieldsParser.parseForm(bytes))
        } catch {
            throw OAuthError.invalidRequest(error.description)
        }
    }
}

extension HTTPField.Name {
    static let retryAfter = Self("Retry-After")!
    static let pragma = Self("Pragma")!
}

