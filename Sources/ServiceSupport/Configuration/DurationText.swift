/// Durations as the contract writes them on the command line and in the environment:
/// `300`, `300s`, `5m`, `1h`, `30d`, and `250ms` for tests and tuning. Whole numbers
/// only, no sign, no spaces; `rotation-drill` also takes fractions (`0.2s`, `1.5m`).
/// The one duration parser of the three executables (`OptionResolver` uses it).
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// The duration `text` stands for, or nil; `fractions` also accepts `1.5s` (to the millisecond).
    public static func parse(_ text: String, fractions: Bool = false) -> Duration? {
        var number = Substring(text)
        var scale: Int64 = 1000
        for unit in Self.units where text.hasSuffix(unit.suffix) {
            number = number.dropLast(unit.suffix.count)
            scale = unit.milliseconds
            break
        }
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, Self.isDigits(whole),
            let value = Int64(whole)
        else { return nil }
        // 12 digits of days exceed Int64 milliseconds: refused, not trapped.
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        var milliseconds = product
        if parts.count == 2 {
            let fraction = parts[1]
            guard fractions, !fraction.isEmpty, fraction.count <= 9, Self.isDigits(fraction), let digits = Int64(fraction) else {
                return nil
            }
            var divisor: Int64 = 1
            for _ in 0..<fraction.count { divisor *= 10 }
            // Rounded to the millisecond: scale ≤ 86_400_000 and digits < 10^9 keep this within Int64.
            let (sum, overflowed) = milliseconds.addingReportingOverflow((digits * scale + divisor / 2) / divisor)
            guard !overflowed else { return nil }
            milliseconds = sum
        }
        return .milliseconds(milliseconds)
    }

    /// Whole seconds, for options kept in seconds (`250ms` is not one).
    public static func seconds(_ text: String) -> Int64? {
        guard let duration = parse(text) else { return nil }
        let (seconds, attoseconds) = duration.components
        return attoseconds == 0 ? seconds : nil
    }

    private static func isDigits(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}
