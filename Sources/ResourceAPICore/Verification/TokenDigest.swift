import SharedJWT

/// SHA-256 of a token, the key of the verified-token cache (the token itself is not kept).
struct TokenDigest: Hashable, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64)

    init(_ token: some StringProtocol) {
        // Hash the UTF-8 in place when it is contiguous (it is for tokens from headers).
        let hash = token.utf8.withContiguousStorageIfAvailable { SHA256Digest.hash($0) } ?? SHA256Digest.hash(Array(token.utf8))
        func word(_ index: Int) -> UInt64 {
            var value: UInt64 = 0
            for byte in hash[(index * 8)..<(index * 8 + 8)] { value = value << 8 | UInt64(byte) }
            return value
        }
        self.words = (word(0), word(1), word(2), word(3))
    }

    static func == (lhs: TokenDigest, rhs: TokenDigest) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
        hasher.combine(self.words.2)
        hasher.combine(self.words.3)
    }
}
