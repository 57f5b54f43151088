import HTTPTypes

extension HTTPField.Name {
    static let retryAfter = Self("Retry-After")!
    static let pragma = Self("Pragma")!
}
