/// Why a request body or header could not be read; `description` is written for an
/// RFC 6749/6750 `error_description`.
public struct RequestParseError: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
