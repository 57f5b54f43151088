#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import SharedJWT
import Synchronization

/// One JSON object per line, for `--log-format json` in both services:
/// `{"ts","level","label","msg",...metadata}`, metadata keys sorted.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (Data) -> Void


    /// `write` receives each line, newline included; standard error by default.
    public init(label: String, write: @escaping @Sendable (Data) -> Void = JSONLogHandler.writeToStandardError) {
        self.label = label
        self.write = write
    }

    public static let writeToStandardError: @Sendable (Data) -> Void = { data in
        StandardError.write(data)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var members: [(key: String, value: JSONValue)] = [
            ("ts", .string(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date()))),
            ("level", .string(event.level.rawValue)),
            ("label", .string(self.label)),
            ("msg", .string(event.message.description)),
        ]
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let reserved: Set<String> = ["ts", "level", "label", "msg"]
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !reserved.contains(key) {
            members.append((key, Self.json(value)))
        }
        var line = JSONValue.object(members).serialized()
        line.append(UInt8(ascii: "\n"))
        self.write(Data(line))
    }

    private static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let array): .array(array.map(json))
        case .dictionary(let dictionary): .object(dictionary.sorted(by: { $0.key < $1.key }).map { ($0.key, json($0.value)) })
        }
    }
}

/// Whole writes to file descriptor 2, one at a time. write(2) rather than FileHandle:
/// FileHandle is in full Foundation, which the services do not link (FoundationEssentials
/// keeps the ResourceAPI's resident memory down).
public enum StandardError {
    private static let lock = Mutex(())

    public static func write(_ text: String) {
        self.write(Data(text.utf8))
    }

    public static func write(_ data: Data) {
        self.lock.withLock { _ in
            data.withUnsafeBytes { bytes in
                guard var next = bytes.baseAddress else { return }
                var left = bytes.count
                while left > 0 {
                    let written = Glibc.write(2, next, left)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // nowhere left to report a failing standard error
                    }
                    next += written
                    left -= written
                }
            }
        }
    }
}
