// Dequantization for prefill GEMMs and the embedding lookup.
// dequant_t_F: rows row0..row0+nrows of W into a float tile T (K, nrows) with the row index
//   fastest (T[k * nrows + r]): column-major (nrows x K), the A operand CLBlast takes without a
//   copy. Grid (nrows, K); adjacent work-items write adjacent floats.
// embed_F: out[out_off + t*K + k] = W[tokens[t], k] (tok0 >= 0 replaces tokens[0]: one token).

#define DEQUANT_KERNELS(F, WT, ELEM)                                                               \
    __kernel void dequant_t_##F(__global const WT *W, __global const half *S,                     \
                                __global const half *M, int hm, int K, long row0, int nrows,      \
                                __global float *T) {                                               \
        const int r = get_global_id(0);                                                            \
        const int k = get_global_id(1);                                                            \
        if (r >= nrows || k >= K) return;                                                          \
        T[(long)k * nrows + r] = ELEM;                                                             \
    }                                                                                              \
    __kernel void embed_##F(__global const WT *W, __global const half *S, __global const half *M, \
                            int hm, int K, __global const int *tokens, int tok0, int rows,        \
                            __global float *out, long out_off) {                                                 \
        const int k = get_global_id(0);                                                            \
        const int t = get_global_id(1);                                                            \
        if (k >= K) return;                                                                        \
        int tok = t == 0 && tok0 >= 0 ? tok0 : tokens[t];                                          \
        tok = clamp(tok, 0, rows - 1); /* the host validated ids; never read out of bounds */     \
        const long row0 = tok; /* ELEM reads row row0 + r */                                       \
        const long r = 0;                                                                          \
        out[out_off + (long)t * K + k] = ELEM;                                                                     \
    }

DEQUANT_KERNELS(q4, uint, elem_q4(W, S, M, hm, row0 + r, k, K))
DEQUANT_KERNELS(q8, char, elem_q8(W, S, row0 + r, k, K))
DEQUANT_KERNELS(f16, half, elem_f16(W, row0 + r, k, K))
DEQUANT_KERNELS(f32, float, elem_f32(W, row0 + r, k, K))

// Group-wise tile dequantization for the quantized formats: one work-item per (row, 32-group),
// one 16/32-byte load of packed weights and one scale, 32 stores each coalesced across rows.
// Grid (nrows, K / 32).
__kernel void dequant_tg_q4(__global const uint4 *W, __global const half *S, __global const half *M,
                            int hm, int K, long row0, int nrows, __global float *T) {
    const int r = get_global_id(0);
    const int g = get_global_id(1);
    if (r >= nrows || g >= K / 32) return;
    const long gi = (row0 + r) * (K / 32) + g;
    const uint4 w = W[gi];
    const float d = vload_half(gi, S);
    const float m = hm ? vload_half(gi, M) : -8.f * d;
    __global float *o = T + (long)g * 32 * nrows + r;
    const uint ws[4] = {w.s0, w.s1, w.s2, w.s3};
    for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 8; ++i) o[(long)(j * 8 + i) * nrows] = d * (float)((ws[j] >> (4 * i)) & 0xFu) + m;
}

__kernel void dequant_tg_q8(__global const char16 *W, __global const half *S, __global const half *M,
                            int hm, int K, long row0, int nrows, __global float *T) {
    const int r = get_global_id(0);
    const int g = get_global_id(1);
    if (r >= nrows || g >= K / 32) return;
    const long gi = (row0 + r) * (K / 32) + g;
    const float d = vload_half(gi, S);
    const float16 a = convert_float16(W[2 * gi]) * d, b = convert_float16(W[2 * gi + 1]) * d;
    __global float *o = T + (long)g * 32 * nrows + r;
    const float v[32] = {a.s0, a.s1, a.s2, a.s3, a.s4, a.s5, a.s6, a.s7, a.s8, a.s9, a.sa, a.sb,
                         a.sc, a.sd, a.se, a.sf, b.s0, b.s1, b.s2, b.s3, b.s4, b.s5, b.s6, b.s7,
                         b.s8, b.s9, b.sa, b.sb, b.sc, b.sd, b.se, b.sf};
    for (int i = 0; i < 32; ++i) o[(long)i * nrows] = v[i];
}

// Group-major layout (gemv.cl "gm"): block (g, r) at g * crows + r, scales/mins [g][crows], where
// crows is the row count of the buffer (chunk). Tile dequant (grid (nrows, K / 32)) and embedding
// lookup (same contract as embed_F) for that layout.
__kernel void dequant_tgm_q4(__global const uint4 *W, __global const half *S, __global const half *M,
                             int hm, int K, long row0, int nrows, __global float *T, int crows) {
    const int r = get_global_id(0);
    const int g = get_global_id(1);
    if (r >= nrows || g >= K / 32) return;
    const long gi = (long)g * crows + row0 + r;
    const uint4 w = W[gi];
    const float d = vload_half(gi, S);
    const float m = hm ? vload_half(gi, M) : -8.f * d;
    __global float *o = T + (long)g * 32 * nrows + r;
    const uint ws[4] = {w.s0, w.s1, w.s2, w.s3};
    for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 8; ++i) o[(long)(j * 8 + i) * nrows] = d * (float)((ws[j] >> (4 * i)) & 0xFu) + m;
}

__kernel void dequant_tgm_q8(__global const char16 *W, __global const half *S, __global const half *M,
                             int hm, int K, long row0, int nrows, __global float *T, int crows) {
    const int r = get_global_id(0);
    const int g = get_global_id(1);
    if (r >= nrows || g >= K / 32) return;
    const long gi = (long)g * crows + row0 + r;
    const float d = vload_half(gi, S);
    const float16 a = convert_float16(W[2 * gi]) * d, b = convert_float16(W[2 * gi + 1]) * d;
    __global float *o = T + (long)g * 32 * nrows + r;
    const float v[32] = {a.s0, a.s1, a.s2, a.s3, a.s4, a.s5, a.s6, a.s7, a.s8, a.s9, a.sa, a.sb,
                         a.sc, a.sd, a.se, a.sf, b.s0, b.s1, b.s2, b.s3, b.s4, b.s5, b.s6, b.s7,
                         b.s8, b.s9, b.sa, b.sb, b.sc, b.sd, b.se, b.sf};
    for (int i = 0; i < 32; ++i) o[(long)i * nrows] = v[i];
}

inline float elem_gm_q4(__global const uint *W, __global const half *S, __global const half *M,
                        int hm, long row, int k, int rows) {
    const long gi = (long)(k / 32) * rows + row;
    const uint u = W[gi * 4 + (k % 32) / 8];
    const float q = (float)((u >> (4 * (k % 8))) & 0xFu);
    const float d = vload_half(gi, S);
    return hm ? d * q + vload_half(gi, M) : d * (q - 8.f);
}
inline float elem_gm_q8(__global const char *W, __global const half *S, long row, int k, int rows) {
    const long gi = (long)(k / 32) * rows + row;
    return vload_half(gi, S) * (float)W[gi * 32 + k % 32];
}
#define EMBED_GM(F, WT, ELEM)                                                                      \
    __kernel void embed_gm_##F(__global const WT *W, __global const half *S, __global const half *M, \
                               int hm, int K, __global const int *tokens, int tok0, int rows,    \
                               __global float *out, long out_off) {                                \
        const int k = get_global_id(0);                                                            \
        const int t = get_global_id(1);                                                            \
        if (k >= K) return;                                                                        \
        int tok = t == 0 && tok0 >= 0 ? tok0 : tokens[t];                                          \
        tok = clamp(tok, 0, rows - 1);                                                             \
        out[out_off + (long)t * K + k] = ELEM;                                                     \
    }
EMBED_GM(q4, uint, elem_gm_q4(W, S, M, hm, tok, k, rows))
EMBED_GM(q8, char, elem_gm_q8(W, S, tok, k, rows))
