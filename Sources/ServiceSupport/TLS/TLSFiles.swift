#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The certificate chain and private key a service serves HTTPS with (`--tls-cert`,
/// `--tls-key`): two PEM files, read at start and again on `SIGHUP`.
///
/// Both services resolve them here (`OptionResolver.tlsFiles`), so the rules are the same:
/// both options or neither, both files readable, and the key readable by its owner only.
public struct TLSFiles: Sendable, Equatable {
    /// PEM: the server certificate first, then any intermediates.
    public var certificatePath: String
    /// PEM: the private key of the first certificate; mode 0600 or stricter.
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// Why the key file at `path` cannot be used, or nil: it must exist and give no
    /// access to group or others (the rule of the Issuer's signing keys).
    public static func keyFileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "'\(path)' cannot be read (\(Self.reason(errno)))" }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            return "'\(path)' has mode \(mode): a TLS private key must not be readable by group or others; run chmod 600 \(path)"
        }
        guard access(path, R_OK) == 0 else { return "'\(path)' cannot be read (\(Self.reason(errno)))" }
        return nil
    }

    /// Why the certificate file at `path` cannot be used, or nil.
    public static func certificateFileProblem(_ path: String) -> String? {
        guard access(path, R_OK) == 0 else { return "'\(path)' cannot be read (\(Self.reason(errno)))" }
        return nil
    }

    private static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

extension OptionResolver {
    /// `--tls-cert` and `--tls-key` (`PREFIX_TLS_CERT`, `PREFIX_TLS_KEY`): nil when neither
    /// is given; one without the other, a file that cannot be read, or a key readable by
    /// group or others throws, naming the option.
    public func tlsFiles(certificate certificateFlag: String?, key keyFlag: String?) throws(ConfigurationError) -> TLSFiles? {
        let certificate = self.given("tls-cert", certificateFlag)
        let key = self.given("tls-key", keyFlag)
        switch (certificate, key) {
        case (nil, nil):
            return nil
        case (let certificate?, nil):
            throw ConfigurationError(
                option: "--tls-key",
                problem: "missing: \(certificate.source) was given, and HTTPS needs the private key too (\(self.variable("tls-key")))"
            )
        case (nil, let key?):
            throw ConfigurationError(
                option: "--tls-cert",
                problem: "missing: \(key.source) was given, and HTTPS needs the certificate too (\(self.variable("tls-cert")))"
            )
        case (let certificate?, let key?):
            if let problem = TLSFiles.certificateFileProblem(certificate.text) {
                throw ConfigurationError(option: certificate.option, source: certificate.source, problem: problem)
            }
            if let problem = TLSFiles.keyFileProblem(key.text) {
                throw ConfigurationError(option: key.option, source: key.source, problem: problem)
            }
            return TLSFiles(certificatePath: certificate.text, keyPath: key.text)
        }
    }

    /// A PEM file of CA certificates that must be readable (`--issuer-ca-file`, `--ca-file`).
    public func caFile(_ option: String, _ flag: String?) throws(ConfigurationError) -> String? {
        guard let given = self.given(option, flag) else { return nil }
        if let problem = TLSFiles.certificateFileProblem(given.text) {
            throw ConfigurationError(option: given.option, source: given.source, problem: problem)
        }
        return given.text
    }
}
