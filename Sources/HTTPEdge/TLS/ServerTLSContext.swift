import Logging
import NIOSSL
import ServiceSupport
import Synchronization

/// The TLS context new connections of a service get: built from `TLSFiles` at start, and
/// swapped for one built from the same files again on `reload` (`SIGHUP`).
///
/// Each new connection reads `current` once, when its `NIOSSLServerHandler` is made
/// (`TLSEdgeChildChannel`); a connection already open keeps the context it started with,
/// so a reload never drops one. A reload that fails (a half-written file, a key that does
/// not match, a key readable by others) keeps the previous context and says why.
public final class ServerTLSContext: Sendable {
    /// The files read at start and on every reload.
    public let files: TLSFiles
    private let context: Mutex<NIOSSLContext>

    /// Loads `files`; throws `ConfigurationError` naming `--tls-cert` or `--tls-key`.
    public init(files: TLSFiles) throws(ConfigurationError) {
        self.files = files
        self.context = Mutex(try Self.makeContext(files))
    }

    /// The context for a connection accepted now.
    public var current: NIOSSLContext {
        self.context.withLock { $0 }
    }

    /// Reads the files again; on success new connections use them. Returns whether it did.
    @discardableResult
    public func reload(logger: Logger) -> Bool {
        do {
            let fresh = try Self.makeContext(self.files)
            self.context.withLock { $0 = fresh }
            logger.info(
                "TLS certificate and key reloaded; new connections use them",
                metadata: ["tls_cert": .string(self.files.certificatePath), "tls_key": .string(self.files.keyPath)]
            )
            return true
        } catch {
            logger.error("TLS reload failed; keeping the previous certificate and key", metadata: ["error": .string(error.description)])
            return false
        }
    }

    /// TLS 1.2 and 1.3 only; the chain and key of `files`. No client certificates.
    static func makeContext(_ files: TLSFiles) throws(ConfigurationError) -> NIOSSLContext {
        if let problem = TLSFiles.keyFileProblem(files.keyPath) {
            throw ConfigurationError(option: "--tls-key", problem: problem)
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        } catch {
            throw ConfigurationError(option: "--tls-cert", problem: "'\(files.certificatePath)' is not a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else {
            throw ConfigurationError(option: "--tls-cert", problem: "'\(files.certificatePath)' holds no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        } catch {
            // The error names no key material: BoringSSL's reason codes only.
            throw ConfigurationError(option: "--tls-key", problem: "'\(files.keyPath)' is not a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        // HTTP/1.1 only, as the edge serves it.
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError(
                option: "--tls-key",
                problem: "'\(files.keyPath)' does not go with the certificate in '\(files.certificatePath)' (\(error))"
            )
        }
    }
}
