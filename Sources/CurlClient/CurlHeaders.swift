/// Response header fields in arrival order, looked up case-insensitively.
public struct CurlHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// The first value of `name`, whatever its case.
    public subscript(_ name: String) -> String? {
        let lowered = name.lowercased()
        return self.fields.first { $0.name.lowercased() == lowered }?.value
    }

    /// Every value of `name`, whatever its case.
    public func values(_ name: String) -> [String] {
        let lowered = name.lowercased()
        return self.fields.filter { $0.name.lowercased() == lowered }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        self.fields.makeIterator()
    }

    mutating func append(name: String, value: String) {
        self.fields.append((name, value))
    }
}
