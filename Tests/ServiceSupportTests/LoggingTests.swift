import Logging
import ServiceSupport
import SharedJWT
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The lines a `JSONLogHandler` wrote.
final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { self.lines.withLock { $0 } }

    func handler(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label) { data in
            self.lines.withLock { $0.append(String(decoding: data, as: UTF8.self)) }
        }
    }
}

@Suite("Logging")
struct LoggingTests {
    @Test func redactsURLPasswords() {
        #expect(SecretRedaction.redact("postgres://user:password@host/db") == "postgres://user:***@host/db")
        #expect(SecretRedaction.redact("postgres://user@host/db") == "postgres://user@host/db")
        #expect(SecretRedaction.redact("postgres://host:5432/db") == "postgres://host:5432/db")
        #expect(
            SecretRedaction.redact("a=postgresql://u:p@ss@h:5432/db?sslmode=disable b=http://x:y@z")
                == "a=postgresql://u:***@h:5432/db?sslmode=disable b=http://x:***@z"
        )
        #expect(
            SecretRedaction.redact("IssuerConfiguration(store: postgres://u:pw@h/d, port: 1)")
                == "IssuerConfiguration(store: postgres://u:***@h/d, port: 1)"
        )
        #expect(SecretRedaction.redact("no url here: a:b@c") == "no url here: a:b@c")
        #expect(
            SecretRedaction.redact(.array([.string("postgres://u:pw@h"), .stringConvertible(5)]))
                == .array([.string("postgres://u:***@h"), .stringConvertible(5)])
        )
    }

    @Test func everyLoggerRedactsMessageAndMetadata() {
        let captured = CapturedLines()
        var logger = Logger(label: "t") { RedactingLogHandler(DeferredMetadataLogHandler(captured.handler(label: $0))) }
        logger.logLevel = .trace
        logger[metadataKey: "config"] = "postgres://u:s3cret@h/db"
        logger.debug("Starting service postgres://u:s3cret@h/db", metadata: ["store": .string("postgres://u:s3cret@h/db")])
        let line = captured.all.joined()
        #expect(!line.contains("s3cret"), "\(line)")
        #expect(line.contains("postgres://u:***@h/db"))
    }

    @Test func numericMetadataIsAJSONNumber() throws {
        let captured = CapturedLines()
        var handler = captured.handler(label: "t")
        handler.logLevel = .trace
        let configured = handler
        let logger = Logger(label: "t") { _ in configured }
        logger.info(
            "m",
            metadata: [
                "port": .stringConvertible(8081), "ratio": .stringConvertible(0.5), "small": .stringConvertible(UInt8(7)),
                "name": .string("8081"), "huge": .stringConvertible(Int64.max), "list": .array([.stringConvertible(-3)]),
            ]
        )
        let line = try #require(captured.all.first)
        #expect(line.contains(#""port":8081"#), "\(line)")
        #expect(line.contains(#""ratio":0.5"#), "\(line)")
        #expect(line.contains(#""small":7"#), "\(line)")
        #expect(line.contains(#""name":"8081""#), "strings stay strings: \(line)")
        #expect(line.contains(#""huge":"9223372036854775807""#), "beyond 2^53 exactly, as a string: \(line)")
        #expect(line.contains(#""list":[-3]"#), "\(line)")
        let object = try JSONValue.parse(Array(line.utf8))
        #expect(object["port"]?.doubleValue == 8081)
    }

    @Test func setupAppliesLevelAndFormat() {
        let setup = LoggingSetup(level: .warning, format: .json)
        let logger = setup.makeLogger(label: "x")
        #expect(logger.logLevel == .warning)
        #expect(LoggingSetup().level == .info && LoggingSetup().format == .text)
    }
}
