import HTTPTypes

/// Which requests the fast path may take at all, whatever the service: those whose
/// handling needs nothing of Hummingbird's connection loop.
public enum FastPathPolicy {
    /// Keep-alive, no `Expect`, no chunked body, and a declared body of at most `maxBodyBytes`.
    public static func admits(_ head: HTTPRequest, maxBodyBytes: Int) -> Bool {
        // One pass over the fields: this runs for every request the fast path sees.
        var declaredLength: Int? = nil
        for field in head.headerFields {
            switch field.name {
            case .connection:
                // Hummingbird closes after a `Connection: close` request; its loop owns that.
                if field.value.utf8.count >= 5, field.value.lowercased().contains("close") { return false }
            case .transferEncoding, .expect:
                return false
            case .contentLength:
                guard declaredLength == nil, let length = Int(field.value), length >= 0 else { return false }
                declaredLength = length
            default:
                continue
            }
        }
        return (declaredLength ?? 0) <= maxBodyBytes
    }
}
