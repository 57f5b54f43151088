import Logging
import ServiceSupport
import Testing

@Suite("Option resolution")
struct OptionResolverTests {
    let resolver = OptionResolver(
        environmentPrefix: "TEST_",
        environment: ["TEST_PORT": "9100", "TEST_KEYS_DIR": "/env/keys", "TEST_AUDIENCE": ""]
    )

    @Test func flagWinsOverEnvironmentWhichWinsOverDefault() throws {
        #expect(try self.resolver.port("port", "9000") == 9000)
        #expect(try self.resolver.port("port", nil) == 9100)
        #expect(try self.resolver.host("host", nil) == nil, "no flag, no variable: the caller's default")
        #expect(self.resolver.string("keys-dir", nil) == "/env/keys")
        #expect(self.resolver.string("keys-dir", "flag") == "flag")
        #expect(try self.resolver.word("audience", nil) == nil, "an empty variable counts as unset")
        #expect(self.resolver.variable("jwks-max-age") == "TEST_JWKS_MAX_AGE")
    }

    @Test func errorsNameWhatTheUserWrote() {
        #expect(throws: ConfigurationError(option: "--port", problem: "'70000' is not a port number (0-65535)")) {
            try self.resolver.port("port", "70000")
        }
        let fromEnvironment = OptionResolver(environmentPrefix: "TEST_", environment: ["TEST_PORT": "x"])
        #expect(throws: ConfigurationError(option: "--port", source: "TEST_PORT", problem: "'x' is not a port number (0-65535)")) {
            try fromEnvironment.port("port", nil)
        }
        let error = ConfigurationError(option: "--port", problem: "'70000' is not a port number (0-65535)")
        #expect(
            error.lines(command: "issuer") == [
                "issuer: --port: '70000' is not a port number (0-65535)", "Run 'issuer --help' for the options.",
            ]
        )
        #expect(ConfigurationError.exitStatus == 2)
    }

    @Test(arguments: [
        ("host", "a b", "'a b' is not a host name or address"),
        ("port", "-1", "'-1' is not a port number (0-65535)"),
        ("url", "ftp://x", "'ftp://x' is not an http(s) URL"),
        ("seconds", "5x", "'5x' is not a positive duration (e.g. 300, 300s, 5m, 1h, 30d)"),
        ("seconds", "250ms", "'250ms' is not a positive duration (e.g. 300, 300s, 5m, 1h, 30d)"),
        ("seconds", "0", "'0' is not a positive duration (e.g. 300, 300s, 5m, 1h, 30d)"),
        ("milliseconds", "soon", "'soon' is not a positive duration (e.g. 250ms, 300, 300s, 5m, 1h, 30d)"),
        ("log-level", "loud", "'loud' is not one of trace, debug, info, notice, warning, error, critical"),
        ("log-format", "xml", "'xml' is not one of text, json"),
        ("key-bits", "1024", "'1024' is not one of 2048, 3072, 4096"),
        ("cost", "99", "'99' is not a whole number from 4 to 31"),
    ])
    func typedValues(kind: String, text: String, problem: String) {
        let resolver = OptionResolver(environmentPrefix: "TEST_", environment: [:])
        #expect(throws: ConfigurationError(option: "--\(kind)", problem: problem)) {
            switch kind {
            case "host": _ = try resolver.host(kind, text)
            case "port": _ = try resolver.port(kind, text)
            case "url": _ = try resolver.httpURL(kind, text)
            case "seconds": _ = try resolver.duration(kind, text, .wholeSeconds)
            case "milliseconds": _ = try resolver.duration(kind, text, .positive)
            case "log-level": _ = try resolver.logLevel(text)
            case "log-format": _ = try resolver.logFormat(text)
            case "key-bits": _ = try resolver.integer(kind, text, oneOf: [2048, 3072, 4096])
            default: _ = try resolver.integer(kind, text, in: 4...31)
            }
        }
    }

    @Test func goodTypedValues() throws {
        let resolver = OptionResolver(environmentPrefix: "TEST_", environment: [:])
        #expect(try resolver.duration("d", "5m", .wholeSeconds) == .seconds(300))
        #expect(try resolver.duration("d", "250ms", .positive) == .milliseconds(250))
        #expect(try resolver.duration("d", "0", .nonNegative) == .zero)
        #expect(try resolver.duration("d", "0.2s", .fractional) == .milliseconds(200))
        #expect(try resolver.durationOrOff("d", "off", .wholeSeconds) == .some(nil))
        #expect(try resolver.durationOrOff("d", "30d", .wholeSeconds) == .some(.seconds(30 * 86_400)))
        #expect(try resolver.httpURL("u", "http://h:1/x//", trimmingSlashes: true) == "http://h:1/x")
        #expect(throws: ConfigurationError.self) { try resolver.httpURL("u", "http://h/?a=b", plain: true) }
        #expect(try resolver.logLevel("DEBUG") == .debug)
        #expect(try resolver.logging(level: nil, format: "json").format == .json)
        #expect(try resolver.number("rate", "2.5", in: 1...500) == 2.5)
        let switches = OptionResolver(environmentPrefix: "TEST_", environment: ["TEST_FORCE": "1"])
        #expect(switches.isOn("force", false) && switches.isOn("retire", true) && !switches.isOn("retire", false))
    }

    @Test func oneDurationParser() {
        #expect(DurationText.parse("300") == .seconds(300))
        #expect(DurationText.parse("300s") == .seconds(300))
        #expect(DurationText.parse("5m") == .seconds(300))
        #expect(DurationText.parse("1h") == .seconds(3600))
        #expect(DurationText.parse("30d") == .seconds(30 * 86_400))
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        #expect(DurationText.parse("1.5s", fractions: true) == .milliseconds(1500))
        #expect(DurationText.parse("0.25m", fractions: true) == .seconds(15))
        for bad in ["", "s", "-5s", "5x", "1.5h", " 5s", "5 s", "99999999999999d", "5mm", ".5s", "5.s", "５m", "999999999999d"] {
            #expect(DurationText.parse(bad) == nil, "\(bad)")
        }
        for bad in [".5s", "5.s", "1.2.3s", "1e3s"] {
            #expect(DurationText.parse(bad, fractions: true) == nil, "\(bad)")
        }
    }
}
