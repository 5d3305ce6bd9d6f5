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
