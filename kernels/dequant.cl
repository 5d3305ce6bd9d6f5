// Dequantization for prefill GEMMs and the embedding lookup.
// dequant_t_F / dequant_th_F: rows row0..row0+nrows of W into a tile T (K, nrows) with the row
//   index fastest (T[k * nrows + r]): column-major (nrows x K), the A operand CLBlast takes
//   without a copy; float tile (SGEMM) or half tile (HGEMM). Grid (nrows, K); adjacent items
//   write adjacent elements. Q4 / Q8_0 use dequant_tg_*: one item per (row, 32-group), one wide
//   load of packed weights and one scale. Grid (nrows, K / 32).
// embed_F: out[out_off + t*K + k] = scale * W[tokens[t], k] (tok0 >= 0 replaces tokens[0]: one
//   token). Grid (K, n).

#define STORE_F(v, i, T) ((T)[i] = (v))
#define STORE_H(v, i, T) vstore_half(v, i, T)

#define DEQUANT_KERNELS(F, WT, ELEM)                                                               \
    __kernel void dequant_t_##F(__global const WT *W, __global const half *S,                     \
                                __global const half *M, int hm, int K, long row0, int nrows,      \
                                __global float *T) {                                               \
        const int r = get_global_id(0);                                                            \
        const int k = get_global_id(1);                                                            \
        if (r >= nrows || k >= K) return;                                                          \
        T[(long)k * nrows + r] = ELEM;                                                             \
    }                                                                                              \
    __kernel void dequant_th_##F(__global const WT *W, __global const half *S,                    \
                                 __global const half *M, int hm, int K, long row0, int nrows,     \
                                 __global half *T) {                                               \
        const int r = get_global_id(0);                                                            \
        const int k = get_global_id(1);                                                            \
        if (r >= nrows || k >= K) return;                                                          \
        vstore_half(ELEM, (long)k * nrows + r, T);                                                 \
    }                                                                                              \
    __kernel void embed_##F(__global const WT *W, __global const half *S, __global const half *M, \
                            int hm, int K, __global const int *tokens, int tok0, int rows,        \
                            __global float *out, long out_off, float scale) {                      \
        const int k = get_global_id(0);                                                            \
        const int t = get_global_id(1);                                                            \
        if (k >= K) return;                                                                        \
        int tok = t == 0 && tok0 >= 0 ? tok0 : tokens[t];                                          \
        tok = clamp(tok, 0, rows - 1); /* the host validated ids; never read out of bounds */     \
        const long row0 = tok; /* ELEM reads row row0 + r */                                       \
        const long r = 0;                                                                          \
        out[out_off + (long)t * K + k] = scale * ELEM;                                             \
    }

DEQUANT_KERNELS(q4, uint, elem_q4(W, S, M, hm, row0 + r, k, K))
DEQUANT_KERNELS(q8, char, elem_q8(W, S, row0 + r, k, K))
DEQUANT_KERNELS(f16, half, elem_f16(W, row0 + r, k, K))
DEQUANT_KERNELS(f32, float, elem_f32(W, row0 + r, k, K))

#define DEQUANT_GROUPS(SUFFIX, TT, STORE)                                                          \
    __kernel void dequant_tg##SUFFIX##_q4(__global const uint4 *W, __global const half *S,        \
                                          __global const half *M, int hm, int K, long row0,       \
                                          int nrows, __global TT *T) {                             \
        const int r = get_global_id(0);                                                            \
        const int g = get_global_id(1);                                                            \
        if (r >= nrows || g >= K / 32) return;                                                     \
        const long gi = (row0 + r) * (K / 32) + g;                                                 \
        const uint4 w = W[gi];                                                                     \
        const float d = vload_half(gi, S);                                                         \
        const float m = hm ? vload_half(gi, M) : -8.f * d;                                         \
        const long o = (long)g * 32 * nrows + r;                                                   \
        const uint ws[4] = {w.s0, w.s1, w.s2, w.s3};                                               \
        for (int j = 0; j < 4; ++j)                                                                \
            for (int i = 0; i < 8; ++i)                                                            \
                STORE(d * (float)((ws[j] >> (4 * i)) & 0xFu) + m, o + (long)(j * 8 + i) * nrows, T); \
    }                                                                                              \
    __kernel void dequant_tg##SUFFIX##_q8(__global const char *W, __global const half *S,         \
                                          __global const half *M, int hm, int K, long row0,       \
                                          int nrows, __global TT *T) {                             \
        const int r = get_global_id(0);                                                            \
        const int g = get_global_id(1);                                                            \
        if (r >= nrows || g >= K / 32) return;                                                     \
        const long gi = (row0 + r) * (K / 32) + g;                                                 \
        const float d = vload_half(gi, S);                                                         \
        const float16 a = convert_float16(vload16(0, W + gi * 32)) * d;                            \
        const float16 b = convert_float16(vload16(1, W + gi * 32)) * d;                            \
        const long o = (long)g * 32 * nrows + r;                                                   \
        /* bytes are stored evens-first per run of 8 (common.cl): element 8j + 2i at byte 8j + i, \
           element 8j + 2i + 1 at byte 8j + 4 + i */                                              \
        const float v[32] = {a.s0, a.s4, a.s1, a.s5, a.s2, a.s6, a.s3, a.s7, a.s8, a.sc, a.s9, a.sd, \
                             a.sa, a.se, a.sb, a.sf, b.s0, b.s4, b.s1, b.s5, b.s2, b.s6, b.s3, b.s7, \
                             b.s8, b.sc, b.s9, b.sd, b.sa, b.se, b.sb, b.sf};                        \
        for (int i = 0; i < 32; ++i) STORE(v[i], o + (long)i * nrows, T);                          \
    }

DEQUANT_GROUPS(, float, STORE_F)
DEQUANT_GROUPS(h, half, STORE_H)
