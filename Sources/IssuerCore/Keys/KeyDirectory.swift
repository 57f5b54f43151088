import Foundation
import SharedJWT

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem with the key directory; the description names the file.
public struct KeyDirectoryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The private keys as loaded from disk, with the lifecycle that says what each one does.
struct LoadedKeys: Sendable {
    var lifecycle: KeyLifecycle
    /// Private keys of every published key (next, active, retiring), by kid.
    var privateKeys: [String: RSAPrivateKey]
    /// The raw keyset.json, to notice changes cheaply.
    var keysetData: Data
}

/// The `keys/` directory: PKCS#8 PEM files (mode 0600) and `keyset.json`.
/// Every change happens under an exclusive lock on `keys/.lock`, and keyset.json is
/// replaced atomically (temporary file + rename), so the CLI, the server and several
/// replicas sharing the directory always see a whole, agreed state.
struct KeyDirectory: Sendable {
    let path: String
    let keyBits: Int

    init(path: String, keyBits: Int) {
        self.path = path
        self.keyBits = keyBits
    }

    var keysetPath: String { path + "/keyset.json" }
    /// The serving Issuer's policy (`ServingKeyPolicy`).
    var policyPath: String { path + "/policy.json" }
    private var lockPath: String { path + "/.lock" }

    func keyFileName(kid: String) -> String { "key-\(kid).pem" }
    func keyFilePath(kid: String) -> String { path + "/" + keyFileName(kid: kid) }

    // MARK: Reading

    /// Reads keyset.json and the private key of every published key. Refuses any key
    /// file that group or others can access, naming the file.
    func load() throws -> LoadedKeys {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: keysetPath))
        } catch {
            throw KeyDirectoryError("cannot read \(keysetPath): \(error.localizedDescription)")
        }
        let lifecycle: KeyLifecycle
        do {
            lifecycle = try JSONDecoder().decode(KeyLifecycle.self, from: data)
        } catch {
            throw KeyDirectoryError("\(keysetPath) is not a valid key set: \(error)")
        }
        try checkPermissions()
        var privateKeys: [String: RSAPrivateKey] = [:]
        for key in lifecycle.published {
            let file = keyFilePath(kid: key.kid)
            let pem: String
            do {
                pem = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw KeyDirectoryError("cannot read private key \(file) for kid \(key.kid)")
            }
            let privateKey: RSAPrivateKey
            do {
                privateKey = try RSAPrivateKey(pkcs8PEM: pem)
            } catch {
                throw KeyDirectoryError("\(file) is not a PKCS#8 PEM RSA private key")
            }
            guard privateKey.publicKey.thumbprint == key.kid else {
                throw KeyDirectoryError("\(file) does not match its kid \(key.kid)")
            }
            privateKeys[key.kid] = privateKey
        }
        guard lifecycle.active != nil else { throw KeyDirectoryError("\(keysetPath) has no active key") }
        return LoadedKeys(lifecycle: lifecycle, privateKeys: privateKeys, keysetData: data)
    }

    /// Every `*.pem` in the directory must be readable by its owner only.
    func checkPermissions() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names.sorted() where name.hasSuffix(".pem") {
            let file = path + "/" + name
            var info = stat()
            guard stat(file, &info) == 0 else { continue }
            if info.st_mode & 0o077 != 0 {
                let mode = String(info.st_mode & 0o777, radix: 8)
                throw KeyDirectoryError(
                    "refusing private key \(file): mode \(mode) lets group or others access it; run chmod 600 \(file)"
                )
            }
        }
    }

    var exists: Bool { FileManager.default.fileExists(atPath: keysetPath) }

    /// True when the directory is there and this process cannot write it: a mounted secret,
    /// served as it is (`KeyRing` then neither rotates nor retires by the clock).
    var isReadOnly: Bool {
        FileManager.default.fileExists(atPath: path) && access(path, W_OK) != 0
    }

    /// The policy a serving Issuer recorded; nil when none ever did.
    func recordedPolicy() throws -> ServingKeyPolicy? {
        guard FileManager.default.fileExists(atPath: policyPath) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: policyPath))
        } catch {
            throw KeyDirectoryError("cannot read \(policyPath): \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(ServingKeyPolicy.self, from: data)
        } catch {
            throw KeyDirectoryError("\(policyPath) is not a valid key policy (remove it; the server writes it again at start): \(error)")
        }
    }

    // MARK: Changing

    /// Creates the directory and, on first start, one active and one next key.
    func initializeIfNeeded(now: Double) throws {
        // A read-only directory holding a key set is used as it is (no lock file can be made).
        if self.isReadOnly && self.exists { return }
        try createDirectory()
        try withLock {
            guard !exists else { return }
            let active = try generateKey()
            let next = try generateKey()
            try writeKeyset(KeyLifecycle.bootstrap(activeKID: active, nextKID: next, now: now))
        }
    }

    /// Applies `change` to the current key set under the lock and writes the result.
    /// `makeKey` generates and stores a fresh key and returns its kid.
    /// Keys generated but not referenced by the result are removed again.
    func update<T>(_ change: (inout KeyLifecycle, _ makeKey: () throws -> String) throws -> T) throws -> T {
        try withLock {
            let original = try load().lifecycle
            var lifecycle = original
            var generated: [String] = []
            let result: T
            do {
                result = try change(&lifecycle) {
                    let kid = try generateKey()
                    generated.append(kid)
                    return kid
                }
            } catch {
                for kid in generated { unlink(keyFilePath(kid: kid)) }
                throw error
            }
            for kid in generated where !lifecycle.keys.contains(where: { $0.kid == kid }) {
                unlink(keyFilePath(kid: kid))
            }
            if lifecycle != original { try writeKeyset(lifecycle) }
            return result
        }
    }

    private func createDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw KeyDirectoryError("cannot create key directory \(path): \(error.localizedDescription)")
        }
    }

    /// Generates an RSA key and writes it as PKCS#8 PEM with mode 0600; returns its kid.
    private func generateKey() throws -> String {
        let key = try RSAPrivateKey.generate(bits: keyBits)
        let kid = key.publicKey.thumbprint
        try writeFile(keyFilePath(kid: kid), contents: Array(try key.pkcs8PEM().utf8), mode: 0o600, exclusive: true)
        return kid
    }

    /// Records the serving Issuer's policy (at server start), atomically, under the lock.
    func recordPolicy(_ policy: ServingKeyPolicy) throws {
        try createDirectory()
        try withLock {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try replace(policyPath, with: try encoder.encode(policy))
        }
    }

    private func writeKeyset(_ lifecycle: KeyLifecycle) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try replace(keysetPath, with: try encoder.encode(lifecycle))
    }

    /// Replaces `file` atomically (temporary file + rename), mode 0644.
    private func replace(_ file: String, with data: Data) throws {
        let name = (file as NSString).lastPathComponent
        let temporary = path + "/.\(name).\(getpid()).\(Secrets.tokenID()).tmp"
        try writeFile(temporary, contents: Array(data), mode: 0o644, exclusive: true)
        guard rename(temporary, file) == 0 else {
            let code = errno
            unlink(temporary)
            throw KeyDirectoryError("cannot replace \(file): \(String(cString: strerror(code)))")
        }
    }

    private func writeFile(_ file: String, contents: [UInt8], mode: mode_t, exclusive: Bool) throws {
        let flags = O_WRONLY | O_CREAT | O_TRUNC | (exclusive ? O_EXCL : 0)
        let fd = open(file, flags, mode)
        guard fd >= 0 else {
            throw KeyDirectoryError("cannot create \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        fchmod(fd, mode)  // whatever the umask
        var offset = 0
        while offset < contents.count {
            let written = contents[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw KeyDirectoryError("cannot write \(file): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw KeyDirectoryError("cannot sync \(file)") }
    }

    /// Runs `body` holding an exclusive flock on keys/.lock (blocks until it is free).
    func withLock<T>(_ body: () throws -> T) throws -> T {
        try createDirectory()
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw KeyDirectoryError("cannot open lock file \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw KeyDirectoryError("cannot lock \(lockPath): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
