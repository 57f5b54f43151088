import Synchronization

/// The last protected header decoded, keyed by its exact base64url text. Every token one
/// key signs carries the same header segment, so most parses skip decoding it again
/// (≈ 1 µs of a parse). The header is a pure function of those bytes, and a segment that
/// fails to decode is never remembered, so a hit gives what decoding would.
final class HeaderMemo: Sendable {
    static let shared = HeaderMemo()

    private struct Entry {
        var segment: [UInt8]
        var header: JWSHeader
    }

    private let last = Mutex<Entry?>(nil)

    func header(segment: UnsafeBufferPointer<UInt8>) throws -> JWSHeader {
        let remembered = self.last.withLock { entry -> JWSHeader? in
            guard let entry, entry.segment.count == segment.count else { return nil }
            let same = entry.segment.withUnsafeBufferPointer { stored in
                var index = 0
                while index < stored.count, stored[index] == segment[index] { index += 1 }
                return index == stored.count
            }
            return same ? entry.header : nil
        }
        if let remembered { return remembered }
        let header = try JWSHeader(json: JSONValue.parse(Base64URL.decode(bytes: segment)))
        let entry = Entry(segment: Array(segment), header: header)
        self.last.withLock { $0 = entry }
        return header
    }
}
