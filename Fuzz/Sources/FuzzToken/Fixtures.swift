import SharedJWT

// Globals live outside main.swift: libFuzzer supplies main(), so top-level code in
// main.swift never runs, while globals here are initialised lazily on first use.
// Token parse + every validator rule + RS256 verify, with the clock fixed so that the
// seed tokens are valid. A crash, a sanitizer report or a token that validates without
// our key's signature is a bug.
let key: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { preconditionFailure("\(error)") }
}()
let validator = JWTValidator(
    configuration: .init(issuer: "http://127.0.0.1:8081", audience: "resource-api"),
    clock: { 1_700_000_000 }
)
