/// Which issuer to expect and where its keys are; known once discovery succeeded.
public struct KeySource: Sendable, Equatable {
    public var expectedIssuer: String
    public var jwksURL: String
}
