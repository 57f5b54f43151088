import Logging
import SharedJWT
import Synchronization

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

    /// Integer and floating-point metadata (`"port": .stringConvertible(8081)`) as a JSON
    /// number; integers beyond 2^53, which a JSON number would round, stay strings.
    static func number(_ value: any CustomStringConvertible & Sendable) -> Double? {
        let limit = 9_007_199_254_740_992.0
        func exact<T: BinaryInteger>(_ integer: T) -> Double? {
            let double = Double(integer)
            return abs(double) < limit ? double : nil
        }
        switch value {
        case let value as Int: return exact(value)
        case let value as Int8: return exact(value)
        case let value as Int16: return exact(value)
        case let value as Int32: return exact(value)
        case let value as Int64: return exact(value)
        case let value as UInt: return exact(value)
        case let value as UInt8: return exact(value)
        case let value as UInt16: return exact(value)
        case let value as UInt32: return exact(value)
        case let value as UInt64: return exact(value)
        case let value as Double: return value.isFinite ? value : nil
        case let value as Float: return value.isFinite ? Double(value) : nil
        default: return nil
        }
    }

    private static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): Self.number(convertible).map(JSONValue.number) ?? .string(convertible.description)
        case .array(let array): .array(array.map(json))
        case .dictionary(let dictionary): .object(dictionary.sorted(by: { $0.key < $1.key }).map { ($0.key, json($0.value)) })
        }
    }
}
