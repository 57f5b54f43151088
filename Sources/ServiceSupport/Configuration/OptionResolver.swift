import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Resolves the options of the three executables: the flag, else the environment
/// variable (`ISSUER_*`, `RESOURCE_API_*`, `DRILL_*`), else nil (the caller's default).
///
/// Every typed value is checked here with one wording; the first bad one throws a
/// `ConfigurationError` naming what the user wrote (the flag or the variable).
/// The variable of `--keys-dir` is the prefix and `KEYS_DIR`; an empty variable counts
/// as unset (compose files often pass `${X:-}`).
public struct OptionResolver: Sendable {
    /// E.g. `ISSUER_`.
    public var environmentPrefix: String
    public var environment: [String: String]

    /// A resolver reading `environmentPrefix`-variables of `environment`.
    public init(environmentPrefix: String, environment: [String: String]) {
        self.environmentPrefix = environmentPrefix
        self.environment = environment
    }

    /// A value as given, and where it came from.
    public struct Given: Sendable {
        /// The flag, e.g. `--port`.
        public var option: String
        /// The flag or the environment variable it came from.
        public var source: String
        public var text: String

        /// The error for this value: `SOURCE: 'TEXT' is not EXPECTED`.
        public func invalid(_ expected: String) -> ConfigurationError {
            ConfigurationError(option: self.option, source: self.source, value: self.text, isNot: expected)
        }
    }

    /// The environment variable of `option` (`keys-dir` → `ISSUER_KEYS_DIR`).
    public func variable(_ option: String) -> String {
        self.environmentPrefix + String(option.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// The flag's value, else the variable's, else nil. `option` is the long name without dashes.
    public func given(_ option: String, _ flag: String?) -> Given? {
        if let flag { return Given(option: "--\(option)", source: "--\(option)", text: flag) }
        let variable = self.variable(option)
        if let value = self.environment[variable], !value.isEmpty {
            return Given(option: "--\(option)", source: variable, text: value)
        }
        return nil
    }

    // MARK: Typed values

    /// Any text, as given (paths, names).
    public func string(_ option: String, _ flag: String?) -> String? {
        self.given(option, flag)?.text
    }

    /// Non-empty text without white space (an audience, an issuer name).
    public func word(_ option: String, _ flag: String?) throws(ConfigurationError) -> String? {
        guard let given = self.given(option, flag) else { return nil }
        guard !given.text.isEmpty, !given.text.contains(where: \.isWhitespace) else {
            throw given.invalid("a non-empty word")
        }
        return given.text
    }

    /// A host name or address to bind.
    public func host(_ option: String, _ flag: String?) throws(ConfigurationError) -> String? {
        guard let given = self.given(option, flag) else { return nil }
        guard !given.text.isEmpty, given.text.utf8.count < 256, !given.text.contains(where: \.isWhitespace) else {
            throw given.invalid("a host name or address")
        }
        return given.text
    }

    /// A port number, 0 (the OS chooses) to 65535.
    public func port(_ option: String, _ flag: String?) throws(ConfigurationError) -> Int? {
        guard let given = self.given(option, flag) else { return nil }
        guard let port = Int(given.text), (0...65535).contains(port) else {
            throw given.invalid("a port number (0-65535)")
        }
        return port
    }

    /// An http or https URL with a host; `plain` also refuses a query, a fragment and a
    /// user; `trimmingSlashes` drops trailing slashes.
    public func httpURL(_ option: String, _ flag: String?, plain: Bool = false, trimmingSlashes: Bool = false) throws(ConfigurationError) -> String? {
        guard let given = self.given(option, flag) else { return nil }
        var text = given.text
        if trimmingSlashes { while text.hasSuffix("/") { text.removeLast() } }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            !plain || (components.query == nil && components.fragment == nil && components.user == nil)
        else {
            throw given.invalid(plain ? "an http(s) URL without query or fragment" : "an http(s) URL")
        }
        return text
    }

    /// What a duration may be.
    public struct DurationRule: Sendable {
        /// Zero is allowed.
        public var allowZero: Bool = false
        /// `250ms` (below a second) is allowed; otherwise whole seconds.
        public var milliseconds: Bool = false
        /// `1.5s` is allowed (rotation-drill).
        public var fractions: Bool = false

        /// A positive number of whole seconds.
        public static let wholeSeconds = DurationRule()
        /// Any number of milliseconds above zero.
        public static let positive = DurationRule(milliseconds: true)
        /// Zero or more milliseconds.
        public static let nonNegative = DurationRule(allowZero: true, milliseconds: true)
        /// Above zero, fractions allowed (`0.2s`).
        public static let fractional = DurationRule(milliseconds: true, fractions: true)

        var expected: String {
            let examples = self.milliseconds ? "250ms, 300, 300s, 5m, 1h, 30d" : "300, 300s, 5m, 1h, 30d"
            return (self.allowZero ? "a duration" : "a positive duration") + " (e.g. \(examples))"
        }
    }

    /// A duration (`300`, `300s`, `5m`, `1h`, `30d`, and `250ms` or `1.5s` where `rule` allows).
    public func duration(_ option: String, _ flag: String?, _ rule: DurationRule) throws(ConfigurationError) -> Duration? {
        guard let given = self.given(option, flag) else { return nil }
        return try Self.duration(given, rule)
    }

    /// `duration`, or `.some(nil)` for `off` (also `0`, `none`, `never`): a schedule that can be turned off.
    public func durationOrOff(_ option: String, _ flag: String?, _ rule: DurationRule) throws(ConfigurationError) -> Duration?? {
        guard let given = self.given(option, flag) else { return .none }
        if ["off", "0", "none", "never"].contains(given.text.lowercased()) { return .some(nil) }
        do {
            return .some(try Self.duration(given, rule))
        } catch {
            throw given.invalid(rule.expected + " or off")
        }
    }

    private static func duration(_ given: Given, _ rule: DurationRule) throws(ConfigurationError) -> Duration {
        guard let duration = DurationText.parse(given.text, fractions: rule.fractions),
            rule.allowZero || duration > .zero,
            rule.milliseconds || duration.components.attoseconds == 0
        else { throw given.invalid(rule.expected) }
        return duration
    }

    /// A whole number in `range`.
    public func integer(_ option: String, _ flag: String?, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let given = self.given(option, flag) else { return nil }
        guard let value = Int(given.text), range.contains(value) else {
            throw given.invalid("a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A number (fractions allowed) in `range`.
    public func number(_ option: String, _ flag: String?, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        guard let given = self.given(option, flag) else { return nil }
        guard let value = Double(given.text), value.isFinite, range.contains(value) else {
            throw given.invalid("a number from \(Self.shortNumber(range.lowerBound)) to \(Self.shortNumber(range.upperBound))")
        }
        return value
    }

    /// One of `choices` (whole numbers, e.g. key sizes).
    public func integer(_ option: String, _ flag: String?, oneOf choices: [Int]) throws(ConfigurationError) -> Int? {
        guard let given = self.given(option, flag) else { return nil }
        guard let value = Int(given.text), choices.contains(value) else {
            throw given.invalid("one of " + choices.map(String.init).joined(separator: ", "))
        }
        return value
    }

    /// One of an enumeration's raw values, in any case.
    public func choice<Choice: CaseIterable & RawRepresentable>(
        _ option: String,
        _ flag: String?,
        as type: Choice.Type = Choice.self
    ) throws(ConfigurationError) -> Choice?
    where Choice.RawValue == String {
        guard let given = self.given(option, flag) else { return nil }
        guard let value = Choice(rawValue: given.text.lowercased()) else {
            throw given.invalid("one of " + Choice.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// `--log-level`: trace, debug, info, notice, warning, error, critical.
    public func logLevel(_ flag: String?) throws(ConfigurationError) -> Logger.Level? {
        try self.choice("log-level", flag, as: Logger.Level.self)
    }

    /// `--log-format`: text or json.
    public func logFormat(_ flag: String?) throws(ConfigurationError) -> LogFormat? {
        try self.choice("log-format", flag, as: LogFormat.self)
    }

    /// `--log-level` and `--log-format` with the contract's defaults (info, text).
    public func logging(level: String?, format: String?) throws(ConfigurationError) -> LoggingSetup {
        LoggingSetup(level: try self.logLevel(level) ?? .info, format: try self.logFormat(format) ?? .text)
    }

    /// A switch: the flag, or the variable set to 1, true or yes.
    public func isOn(_ option: String, _ flag: Bool) -> Bool {
        flag || ["1", "true", "yes"].contains(self.environment[self.variable(option)]?.lowercased() ?? "")
    }

    private static func shortNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
