import Logging

/// Removes passwords from URLs (`postgres://user:password@host/db` becomes
/// `postgres://user:***@host/db`) in free text and in log metadata.
public enum SecretRedaction {
    /// The mask that replaces a password.
    public static let mask = "***"

    /// `text` with the password of every `scheme://user:password@` in it replaced by `***`.
    public static func redact(_ text: String) -> String {
        guard text.utf8.count >= 3, text.contains("://") else { return text }
        var result = ""
        var rest = Substring(text)
        while let separator = rest.firstRange(of: "://") {
            result += rest[..<separator.upperBound]
            rest = rest[separator.upperBound...]
            // The authority ends where the path, query or fragment starts (or the text around it resumes).
            let end = rest.firstIndex { "/?#\"'<>".contains($0) || $0.isWhitespace } ?? rest.endIndex
            let authority = rest[..<end]
            guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { continue }
            result += authority[...colon]
            result += Self.mask
            result += authority[at...]
            rest = rest[end...]
        }
        result += rest
        return result
    }

    /// A metadata value with `redact(_:)` applied to every string in it; numbers are kept as they are.
    public static func redact(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let string):
            return .string(Self.redact(string))
        case .stringConvertible(let convertible):
            let description = convertible.description
            return description.contains("://") ? .string(Self.redact(description)) : value
        case .array(let array):
            return .array(array.map { Self.redact($0) })
        case .dictionary(let dictionary):
            return .dictionary(dictionary.mapValues { Self.redact($0) })
        }
    }

    /// Metadata with `redact(_:)` applied to every value.
    public static func redact(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.mapValues { (value: Logger.MetadataValue) in Self.redact(value) }
    }
}
