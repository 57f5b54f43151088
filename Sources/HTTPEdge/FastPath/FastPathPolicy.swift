import HTTPTypes

/// Which requests the fast path may take at all, whatever the service: those whose
/// handling needs nothing of Hummingbird's connection loop.
public enum FastPathPolicy {
    /// Keep-alive, no `Expect`, no chunked body, and a declared body of at most `maxBodyBytes`.
    public static func admits(_ head: HTTPRequest, maxBodyBytes: Int) -> Bool {
        let fields = head.headerFields
        // Hummingbird closes after a `Connection: close` request; its loop owns that.
        for value in fields[values: .connection] where value.lowercased().contains("close") { return false }
        guard fields[.transferEncoding] == nil, fields[.expect] == nil else { return false }
        let lengths = fields[values: .contentLength]
        if lengths.isEmpty { return true }
        guard lengths.count == 1, let length = Int(lengths[0]), length >= 0 else { return false }
        return length <= maxBodyBytes
    }
}
