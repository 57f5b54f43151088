import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The logging set-up of the three executables: `--log-level` and `--log-format`
/// (text or JSON on standard error), every handler redacting URL passwords.
public struct LoggingSetup: Sendable {
    public var level: Logger.Level
    public var format: LogFormat

    /// The set-up for `level` and `format` (the defaults are the contract's: info, text).
    public init(level: Logger.Level = .info, format: LogFormat = .text) {
        self.level = level
        self.format = format
    }

    /// A handler writing to standard error in `format` at `level`; passwords in URLs are masked.
    public func makeHandler(label: String) -> any LogHandler {
        var handler: any LogHandler
        switch self.format {
        case .text: handler = StreamLogHandler.standardError(label: label)
        case .json: handler = JSONLogHandler(label: label)
        }
        handler.logLevel = self.level
        return RedactingLogHandler(DeferredMetadataLogHandler(handler))
    }

    /// A logger with its own handler (needs no bootstrap: tests and subcommands use it too).
    public func makeLogger(label: String) -> Logger {
        var logger = Logger(label: label) { self.makeHandler(label: $0) }
        logger.logLevel = self.level
        return logger
    }

    /// Bootstraps swift-log with `makeHandler(label:)` (once per process: servers only)
    /// and returns the executable's logger.
    public func bootstrap(label: String) -> Logger {
        let setup = self
        LoggingSystem.bootstrap { setup.makeHandler(label: $0) }
        return self.makeLogger(label: label)
    }
}
