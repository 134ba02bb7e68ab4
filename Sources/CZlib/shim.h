#ifndef ESTEIRA_CZLIB_SHIM_H
#define ESTEIRA_CZLIB_SHIM_H
#include <zlib.h>

/* inflateInit2 is a macro; Swift cannot call it. windowBits 15+32 auto-detects gzip or zlib. */
static inline int esteira_inflate_init2(z_stream *strm, int window_bits) {
    return inflateInit2(strm, window_bits);
}
static inline int esteira_deflate_init2(z_stream *strm, int level, int window_bits) {
    return deflateInit2(strm, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
}
#endif
