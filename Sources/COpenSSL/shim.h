#ifndef ESTEIRA_COPENSSL_SHIM_H
#define ESTEIRA_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

/* EVP_MD_CTX_size and friends are macros in OpenSSL 3; give Swift functions. */
static inline int esteira_evp_md_size(const EVP_MD *md) { return EVP_MD_get_size(md); }
#endif
