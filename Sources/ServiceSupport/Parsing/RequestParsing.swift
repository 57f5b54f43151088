#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SharedJWT

/// Why a request body or header could not be read; `description` is written for an
/// RFC 6749/6750 `error_description`.
public struct RequestParseError: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Request bodies as string fields: a JSON object or an
/// `application/x-www-form-urlencoded` form. Pure functions, so they can be fuzzed alone.
public enum BodyFieldsParser {
    /// A JSON object whose members are strings (or null, taken as absent). SharedJWT's
    /// strict parser refuses duplicate members and nesting deeper than 64.
    public static func parseJSONObject(_ bytes: [UInt8]) throws(RequestParseError) -> [String: String] {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw RequestParseError("body is not valid JSON")
        }
        guard let members = value.objectValue else { throw RequestParseError("body must be a JSON object") }
        var values: [String: String] = [:]
        for (key, member) in members {
            if let string = member.stringValue {
                values[key] = string
            } else if member != .null {
                throw RequestParseError("\(key) must be a string")
            }
        }
        return values
    }

    /// A form body; a repeated parameter is an error (RFC 6749 §3.1).
    public static func parseForm(_ bytes: [UInt8]) throws(RequestParseError) -> [String: String] {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw RequestParseError("body is not UTF-8") }
        var values: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decodeComponent(parts[0]), !name.isEmpty,
                let value = decodeComponent(parts.count > 1 ? parts[1] : "")
            else { throw RequestParseError("malformed form body") }
            guard values[name] == nil else { throw RequestParseError("parameter \(name) repeated") }
            values[name] = value
        }
        return values
    }

    /// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XY` a byte, and the
    /// bytes must be UTF-8. Written out because Foundation's `removingPercentEncoding` and
    /// `replacingOccurrences` need full Foundation, which this module does not link.
    static func decodeComponent(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// `Authorization: Bearer <b64token>` (RFC 6750 §2.1), the scheme matched
/// case-insensitively.
public enum BearerAuthorization {
    public enum Failure: Error, Equatable, Sendable {
        /// Not `Bearer <token>`, or characters RFC 6750 does not allow: 400 invalid_request.
        case malformed(String)
        /// Over the size cap: 401 invalid_token, like any other bad token.
        case tooLarge
    }

    public static func token(from value: String, maxTokenBytes: Int) throws(Failure) -> Substring {
        let trimmed = value.drop { $0 == " " || $0 == "\t" }
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
            if trimmed.lowercased() == "bearer" { throw .malformed("the bearer token is empty") }
            throw .malformed("the Authorization header is not Bearer <token>")
        }
        guard trimmed[..<space].lowercased() == "bearer" else {
            throw .malformed("the Authorization scheme is not Bearer")
        }
        var token = trimmed[space...].drop { $0 == " " || $0 == "\t" }
        while let last = token.last, last == " " || last == "\t" { token = token.dropLast() }
        guard !token.isEmpty else { throw .malformed("the bearer token is empty") }
        guard token.utf8.count <= maxTokenBytes else { throw .tooLarge }
        guard isB64Token(token) else { throw .malformed("the bearer token has characters RFC 6750 does not allow") }
        return token
    }

    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
    static func isB64Token(_ token: Substring) -> Bool {
        // On the ResourceAPI's hot path: scan contiguous UTF-8 with a table, not Characters.
        if let result = token.utf8.withContiguousStorageIfAvailable(isB64Token) { return result }
        return Array(token.utf8).withUnsafeBufferPointer(isB64Token)
    }

    private static func isB64Token(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, first != UInt8(ascii: "=") else { return false }
        let allowed = b64TokenBytes  // read the global once, not once per byte
        var index = 0
        while index < bytes.count, allowed[Int(bytes[index])] { index += 1 }
        while index < bytes.count, bytes[index] == UInt8(ascii: "=") { index += 1 }
        return index == bytes.count
    }

    private static let b64TokenBytes: [Bool] = (0..<256).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
            true
        default:
            false
        }
    }
}
