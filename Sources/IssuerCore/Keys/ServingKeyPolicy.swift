import SharedJWT

/// The key policy a serving Issuer runs with, recorded beside the keys (`keys/policy.json`,
/// written atomically at every server start; no secrets in it), so that `issuer keys
/// rotate` and `keys retire` on the command line follow the running server's rule (the
/// one `POST /admin/keys/rotate` applies) rather than flags of their own.
/// Replicas sharing keys/ are meant to run one policy; the last one started is recorded.
struct ServingKeyPolicy: Sendable, Equatable, Codable {
    /// `--jwks-max-age` in seconds: how long the next key must have been published.
    var jwksMaxAge: Double
    /// `--access-ttl` in seconds.
    var accessTTL: Double
    /// `--rotate-every` in seconds; nil: off.
    var rotateEvery: Double?
    /// `--key-bits`: the size of every fresh key.
    var keyBits: Int
    /// When the server recorded it (seconds since 1970).
    var recordedAt: Double

    init(policy: KeyLifecyclePolicy, keyBits: Int, recordedAt: Double) {
        self.jwksMaxAge = policy.jwksMaxAge
        self.accessTTL = policy.accessTTL
        self.rotateEvery = policy.rotateEvery
        self.keyBits = keyBits
        self.recordedAt = recordedAt
    }

    /// The lifecycle rules `KeyRing` applies with it.
    var lifecyclePolicy: KeyLifecyclePolicy {
        KeyLifecyclePolicy(accessTTL: self.accessTTL, jwksMaxAge: self.jwksMaxAge, rotateEvery: self.rotateEvery)
    }

    enum CodingKeys: String, CodingKey {
        case jwksMaxAge = "jwks_max_age"
        case accessTTL = "access_ttl"
        case rotateEvery = "rotate_every"
        case keyBits = "key_bits"
        case recordedAt = "recorded_at"
    }
}
