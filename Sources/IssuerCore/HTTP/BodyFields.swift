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
