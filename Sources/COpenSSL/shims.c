#include "COpenSSL.h"

void copenssl_free(void *ptr) { OPENSSL_free(ptr); }

long copenssl_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

EVP_PKEY *copenssl_rsa_generate(unsigned int bits) { return EVP_RSA_gen(bits); }
