/// An option that is `on` or `off` (`--fast-path off`).
public enum OnOff: String, CaseIterable, Sendable {
    case on, off

    public var isOn: Bool { self == .on }
}
