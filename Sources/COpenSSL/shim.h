#ifndef ESTEIRA_COPENSSL_SHIM_H
#define ESTEIRA_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

/* EVP_MD_CTX_size and friends are macros in OpenSSL 3; give Swift functions. */
static inline int esteira_evp_md_size(const EVP_MD *md) { return EVP_MD_get_size(md); }

/* HMAC through the OpenSSL 3 EVP_MAC API (HMAC_CTX is deprecated in 3.0).
 * EVP_MAC_init takes an OSSL_PARAM array naming the digest; built here from C
 * string literals, because from Swift every string pointer in it would need a
 * nested withCString scope. An empty key is passed as a valid buffer of length
 * 0, because a NULL key means "keep the previous key" to EVP_MAC_init. */
static inline int esteira_hmac_sha256_init(EVP_MAC_CTX *ctx, const unsigned char *key, size_t keylen) {
    static const unsigned char empty_key[1] = { 0 };
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_MAC_init(ctx, key != NULL ? key : empty_key, keylen, params);
}
#endif
