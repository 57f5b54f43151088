// The few libcrypto (OpenSSL 3) declarations SharedJWT uses, plus shims for the
// ones OpenSSL defines as macros, which Swift cannot call.
#ifndef C_OPENSSL_H
#define C_OPENSSL_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

/// `OPENSSL_free` is a macro.
void copenssl_free(void *ptr);

/// `BIO_get_mem_data` is a macro; returns the length and points `*data` at the bytes.
long copenssl_bio_mem_data(BIO *bio, char **data);

/// Generates an RSA key of `bits` bits with e = 65537 (`EVP_RSA_gen` is a macro).
EVP_PKEY *copenssl_rsa_generate(unsigned int bits);

/// Builds an RSA public key from big-endian modulus and exponent bytes
/// (`EVP_PKEY_PUBLIC_KEY` is a macro expression Swift does not import). NULL on failure.
EVP_PKEY *copenssl_rsa_public_key(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len);

/// Builds an RSA private key from its big-endian components (a private JWK, RFC 7518
/// §6.3.2). NULL on failure.
EVP_PKEY *copenssl_rsa_private_key(const unsigned char *const *components, const size_t *lengths);

#endif
