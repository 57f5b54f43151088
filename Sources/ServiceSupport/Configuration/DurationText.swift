/// Durations as the contract writes them on the command line and in the environment:
/// `300`, `300s`, `5m`, `1h`, `30d`, and `250ms` for tests and tuning. Whole numbers
/// only, no sign, no spaces.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, milliseconds: Int64)] = [
            ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
        ]
        var number = Substring(text)
        var scale: Int64 = 1000
        for unit in units where text.hasSuffix(unit.suffix) {
            number = number.dropLast(unit.suffix.count)
            scale = unit.milliseconds
            break
        }
        guard !number.isEmpty, number.count <= 12, number.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int64(number)
        else { return nil }
        return .milliseconds(value * scale)
    }

    /// Whole seconds, for options kept in seconds (`250ms` is not one).
    public static func seconds(_ text: String) -> Int64? {
        guard let duration = parse(text) else { return nil }
        let (seconds, attoseconds) = duration.components
        return attoseconds == 0 ? seconds : nil
    }
}
