import Testing

@testable import SharedJWT

@Suite struct JSONValueTests {
    @Test func parsesAndSerialises() throws {
        let text = #"{"a":[1,-2.5,true,false,null],"b":"x\"\\\n\u00e9\ud83d\ude00","c":{}}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["b"]?.stringValue == "x\"\\\né😀")
        #expect(value["a"]?.arrayValue?.count == 5)
        #expect(value["a"]?.arrayValue?[1] == .number(-2.5))
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    @Test(arguments: [
        #"{"alg":"RS256","alg":"none"}"#,  // duplicate member
        #"{"a":1}x"#,  // trailing data
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":1e}"#,  // numbers
        #"{"a":"\ud800"}"#, #"{"a":"\x"}"#, "{\"a\":\"\u{01}\"}",  // strings
        #"{"a":1e999}"#, "8888888888888888888888e8888888888",  // out of range (found by FuzzJSON)
        #"{"a":tru}"#, "[1,]", "{,}", "", "   ", #"{"a" 1}"#,
    ])
    func refusesInvalidJSON(_ text: String) {
        #expect(throws: JWTError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        #expect(throws: JWTError.self) { try JSONValue.parse(bytes) }
    }

    @Test func boundsNesting() throws {
        let ok = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        _ = try JSONValue.parse(Array(ok.utf8))
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JWTError.malformed("JSON nested too deeply")) { try JSONValue.parse(Array(deep.utf8)) }
    }

    @Test func duplicatesInLargeObjectsAreFound() {
        var members = (0..<100).map { "\"k\($0)\":\($0)" }
        members.append("\"k7\":0")
        let text = "{" + members.joined(separator: ",") + "}"
        #expect(throws: JWTError.malformed("duplicate JSON member")) { try JSONValue.parse(Array(text.utf8)) }
    }
}
