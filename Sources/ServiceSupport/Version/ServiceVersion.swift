/// The version the three executables report with `--version`.
///
/// One constant for `issuer`, `resource-api` and `rotation-drill`: they are built and
/// released together from one package, so they always carry the same number.
public enum ServiceVersion {
    /// Semantic version of this source tree.
    public static let current = "0.19.0"
}
