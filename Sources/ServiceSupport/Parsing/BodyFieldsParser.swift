import SharedJWT

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
