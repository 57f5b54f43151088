import Foundation
import Logging
import SharedJWT
import Synchronization

/// One JSON object per line on standard error, for `--log-format json`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    private static let output = Mutex(())

    public init(label: String) {
        self.label = label
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
            ("message", .string("\(event.message)")),
        ]
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            members.append((key, .string("\(value)")))
        }
        var line = JSONValue.object(members).serialized()
        line.append(UInt8(ascii: "\n"))
        Self.output.withLock { _ in
            FileHandle.standardError.write(Data(line))
        }
    }
}
