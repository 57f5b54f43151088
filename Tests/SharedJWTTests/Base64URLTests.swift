import Testing

@testable import SharedJWT

@Suite struct Base64URLTests {
    @Test func roundTripsEveryLength() throws {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("="))
            #expect(try Base64URL.decode(encoded) == bytes)
        }
    }

    @Test func matchesRFC4648Vectors() throws {
        #expect(Base64URL.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64URL.encode(Array("fooba".utf8)) == "Zm9vYmE")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(try Base64URL.decode("-_8") == [0xFB, 0xFF])
    }

    @Test(arguments: ["Zm9vYg==", "Zm9v+g", "Zm9v/g", "Zm9v Yg", "Zm9v\nYg", "Zm9vY", "Zm9vYh", "Zm9vYmE=", "Zm9vYmF", "é"])
    func refusesNonCanonicalInput(_ text: String) {
        #expect(throws: JWTError.self) { try Base64URL.decode(text) }
    }
}
