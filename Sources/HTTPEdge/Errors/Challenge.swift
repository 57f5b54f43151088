/// `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3), quoted one way for both
/// services.
public enum Challenge {
    /// `Bearer realm="…"` with the RFC 6750 error attributes that are given.
    public static func bearer(realm: String, error: String? = nil, description: String? = nil, scope: String? = nil) -> String {
        var value = "Bearer realm=\"\(self.quotable(realm))\""
        if let error { value += ", error=\"\(self.quotable(error))\"" }
        if let description { value += ", error_description=\"\(self.quotable(description))\"" }
        if let scope { value += ", scope=\"\(self.quotable(scope))\"" }
        return value
    }

    /// `Basic realm="…"` (RFC 7617).
    public static func basic(realm: String) -> String {
        "Basic realm=\"\(self.quotable(realm))\""
    }

    /// Printable ASCII without `"` or `\`: RFC 6750 §3 limits `error_description` to that,
    /// so anything else (request data quoted in a description included) becomes `?`.
    public static func quotable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { scalar in
                    (scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "\\") ? scalar : "?"
                }
            )
        )
    }
}
