import ArgumentParser

/// An option value that cannot be used, for any of the three executables.
///
/// One wording everywhere: the first line names what the user wrote (the flag, or the
/// environment variable it came from), the value and what was expected, e.g.
/// `issuer: --port: '70000' is not a port number (0-65535)`; the second line is
/// `Run 'issuer --help' for the options.`; the exit status is 2.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The exit status of a configuration error (argument-parser's own usage errors keep 64).
    public static let exitStatus: Int32 = 2

    /// The option's flag, e.g. `--port`, even when the value came from the environment.
    public var option: String
    /// What the user wrote: the flag, or the environment variable, e.g. `ISSUER_PORT`.
    public var source: String
    /// What is wrong, starting with the quoted value, e.g. `'70000' is not a port number (0-65535)`.
    public var problem: String

    /// An error about `option`, reported under `source` (the flag itself by default).
    public init(option: String, source: String? = nil, problem: String) {
        self.option = option
        self.source = source ?? option
        self.problem = problem
    }

    /// An error about a value: quotes it (at most 64 characters, URL passwords redacted).
    public init(option: String, source: String? = nil, value: String, isNot expected: String) {
        self.init(option: option, source: source, problem: "'\(Self.shown(value))' is not \(expected)")
    }

    /// `SOURCE: PROBLEM`, the first line without the command name.
    public var description: String { "\(self.source): \(self.problem)" }

    /// The lines printed on standard error for `command` (e.g. `issuer`).
    public func lines(command: String) -> [String] {
        ["\(command): \(self.description)", "Run '\(command) --help' for the options."]
    }

    /// Prints `lines(command:)` on standard error and returns the exit code to throw (2).
    public func report(command: String) -> ExitCode {
        StandardError.write(self.lines(command: command).map { $0 + "\n" }.joined())
        return ExitCode(Self.exitStatus)
    }

    /// Runs `body`; a `ConfigurationError` it throws is reported for `command` and
    /// becomes exit status 2.
    public static func reporting<Value>(
        command: String,
        _ body: () throws(ConfigurationError) -> Value
    ) throws(ExitCode) -> Value {
        do {
            return try body()
        } catch {
            throw error.report(command: command)
        }
    }

    /// A value as error messages show it: at most 64 characters, never a URL's password.
    static func shown(_ value: String) -> String {
        let redacted = SecretRedaction.redact(value)
        return redacted.count > 64 ? String(redacted.prefix(64)) + "…" : redacted
    }
}
