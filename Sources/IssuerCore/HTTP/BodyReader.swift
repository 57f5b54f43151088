import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceSupport
import SharedJWT
import Synchronization

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
