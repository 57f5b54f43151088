import SharedJWT

// Globals live outside main.swift: libFuzzer supplies main(), so top-level code in
// main.swift never runs, while globals here are initialised lazily on first use.
// An untrusted JWK Set through the resource server's policy: it must never crash, and
// every key it accepts must satisfy the policy.
let policy = JWKSetPolicy()
