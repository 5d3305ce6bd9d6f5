// Matrix-vector products for decode (a few tokens): y[t, r] (+)= sum_k W[r, k] x[t, k].
// A work-group of GEMV_WG items owns GEMV_ROWS consecutive rows; item i walks the 32-groups
// i, i+GEMV_WG, ...: one 16-byte load of packed weights per row per group, the 32 activations
// loaded once (float4 x 8) and reused for all rows, Σx of the group computed once and reused to
// fold the Q4 zero point / min: d * (Σ q·x − 8 Σx) or d * Σ q·x + m * Σx. fp32 accumulation,
// one work-group reduction (sub-groups where present) per row at the end.
// Kernels per format F: gemv_F (one matrix), gemv3_F (three matrices sharing x: q, k, v) and
// gemv_swiglu_F (silu(A x) * (B x)). Grid: (n_blocks * GEMV_WG, n_tokens).

inline float group_q4(__global const uint4 *W, __global const half *S, __global const half *M,
                      int hm, long row, int g, int K, const float4 *xv, float sx) {
    const long gi = row * (K / 32) + g;
    const uint4 w = W[gi];
    float dq = dot(nib4(w.s0, 0), xv[0]) + dot(nib4(w.s0, 16), xv[1]) +
               dot(nib4(w.s1, 0), xv[2]) + dot(nib4(w.s1, 16), xv[3]) +
               dot(nib4(w.s2, 0), xv[4]) + dot(nib4(w.s2, 16), xv[5]) +
               dot(nib4(w.s3, 0), xv[6]) + dot(nib4(w.s3, 16), xv[7]);
    const float d = vload_half(gi, S);
    return hm ? d * dq + vload_half(gi, M) * sx : d * (dq - 8.f * sx);
}
inline float group_q8(__global const char *W, __global const half *S, __global const half *M,
                      int hm, long row, int g, int K, const float4 *xv, float sx) {
    __global const char16 *p = (__global const char16 *)(W + row * K) + 2 * g;
    const float16 a = convert_float16(p[0]);
    const float16 b = convert_float16(p[1]);
    float dq = dot(a.s0123, xv[0]) + dot(a.s4567, xv[1]) + dot(a.s89ab, xv[2]) + dot(a.scdef, xv[3]) +
               dot(b.s0123, xv[4]) + dot(b.s4567, xv[5]) + dot(b.s89ab, xv[6]) + dot(b.scdef, xv[7]);
    return vload_half(row * (K / 32) + g, S) * dq;
}
inline float group_f16(__global const half *W, __global const half *S, __global const half *M,
                       int hm, long row, int g, int K, const float4 *xv, float sx) {
    __global const half *p = W + row * K + g * 32;
    float r = 0.f;
    for (int j = 0; j < 8; ++j) r += dot(vload_half4(j, p), xv[j]);
    return r;
}
inline float group_f32(__global const float *W, __global const half *S, __global const half *M,
                       int hm, long row, int g, int K, const float4 *xv, float sx) {
    __global const float *p = W + row * K + g * 32;
    float r = 0.f;
    for (int j = 0; j < 8; ++j) r += dot(vload4(j, p), xv[j]);
    return r;
}
inline float tail_q4(__global const uint4 *W, long row, int k, int K) { return 0.f; }  // K % 32 == 0
inline float tail_q8(__global const char *W, long row, int k, int K) { return 0.f; }   // K % 32 == 0
inline float tail_f16(__global const half *W, long row, int k, int K) { return vload_half(row * K + k, W); }
inline float tail_f32(__global const float *W, long row, int k, int K) { return W[row * K + k]; }

// Reduces acc[0..GEMV_ROWS) over the work-group in one pass (one tree for all rows, not one per
// row); afterwards item 0 holds the totals. scratch: GEMV_ROWS * GEMV_WG floats.
inline void reduce_rows(float *acc, __local float *scratch) {
#if USE_SUBGROUPS
    for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = wg_sum(acc[r], scratch, GEMV_WG);
#else
    const int lid = get_local_id(0);
    for (int r = 0; r < GEMV_ROWS; ++r) scratch[r * GEMV_WG + lid] = acc[r];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = GEMV_WG / 2; s > 0; s >>= 1) {
        if (lid < s)
            for (int r = 0; r < GEMV_ROWS; ++r) scratch[r * GEMV_WG + lid] += scratch[r * GEMV_WG + lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = scratch[r * GEMV_WG];
    barrier(CLK_LOCAL_MEM_FENCE);  // scratch may be reused right after
#endif
}

// RMSNorm folded into a product: 1/RMS(x) over K values, computed by every work-group (x is
// small and cached); the norm weight is applied to x as it is loaded. 1 when use_norm == 0.
inline float row_inv_rms(__global const float *x, int K, int use_norm, float eps, __local float *scratch) {
    if (!use_norm) return 1.f;
    float ss = 0.f;
    for (int k = get_local_id(0); k < K; k += GEMV_WG) ss += x[k] * x[k];
    ss = wg_sum(ss, scratch, GEMV_WG);
    return rsqrt(ss / (float)K + eps);
}

// Partial sums of GEMV_ROWS rows (row0.., nrows valid) for this work-item into acc. With use_norm,
// x is multiplied by nw * inv as it is loaded (the RMSNorm fused into the product).
// X4(i) loads activations i*4..i*4+3: aligned float4 loads for the quantized formats (K % 32 == 0
// and the host keeps x offsets multiples of 4), vload4 for F16/F32 (any K and offset).
#define X4_ALIGNED(i) (((__global const float4 *)x)[i])
#define X4_ANY(i) vload4((i), x)
#define NW4_ALIGNED(i) (((__global const float4 *)nw)[i])
#define NW4_ANY(i) vload4((i), nw)
#define GEMV_ROWS_FN(F, WT, X4, NW4)                                                              \
    inline void rows_##F(__global const WT *W, __global const half *S, __global const half *M,    \
                         int hm, long row0, int nrows, int K, __global const float *x,            \
                         float *acc, int use_norm, __global const float *nw, float inv) {          \
        const int lid = get_local_id(0);                                                           \
        const int G = K / 32;                                                                      \
        for (int g = lid; g < G; g += GEMV_WG) {                                                   \
            float4 xv[8];                                                                          \
            for (int j = 0; j < 8; ++j) xv[j] = X4(g * 8 + j);                                     \
            if (use_norm)                                                                          \
                for (int j = 0; j < 8; ++j) xv[j] *= NW4(g * 8 + j) * inv;                         \
            const float4 s4 = xv[0] + xv[1] + xv[2] + xv[3] + xv[4] + xv[5] + xv[6] + xv[7];      \
            const float sx = s4.x + s4.y + s4.z + s4.w;                                            \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) acc[r] += group_##F(W, S, M, hm, row0 + r, g, K, xv, sx);           \
        }                                                                                          \
        for (int k = G * 32 + lid; k < K; k += GEMV_WG) {                                          \
            const float xk = use_norm ? x[k] * nw[k] * inv : x[k];                                 \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) acc[r] += tail_##F(W, row0 + r, k, K) * xk;                         \
        }                                                                                          \
    }

// gemv_F: y[t*ldy + y_off + r] (+)= W x_t. gemv3_F: three matrices over the same x (q, k, v),
// optionally RMS-normalised on the fly (use_norm, nw, eps). gemv_swiglu_F: silu(Wa x) * (Wb x),
// same optional norm.
#define GEMV_KERNELS(F, WT, X4, NW4)                                                              \
    GEMV_ROWS_FN(F, WT, X4, NW4)                                                                  \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_##F(                  \
        __global const WT *W, __global const half *S, __global const half *M, int hm, int rows,   \
        int K, __global const float *x, int x_off, __global float *y, int y_off, int ldy,         \
        int accumulate) {                                                                          \
        __local float scratch[GEMV_ROWS * GEMV_WG];                                                \
        const long row0 = (long)get_group_id(0) * GEMV_ROWS;                                       \
        const int t = get_global_id(1);                                                            \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        float acc[GEMV_ROWS];                                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;                                          \
        rows_##F(W, S, M, hm, row0, nrows, K, x + x_off + (long)t * K, acc, 0, x, 1.f);            \
        reduce_rows(acc, scratch);                                                                 \
        __global float *yt = y + y_off + (long)t * ldy + row0;                                     \
        if (get_local_id(0) == 0)                                                                  \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) yt[r] = accumulate ? yt[r] + acc[r] : acc[r];                       \
    }                                                                                              \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv3_##F(                 \
        __global const WT *W0, __global const half *S0, __global const half *M0, int hm0,         \
        int rows0, __global float *y0, __global const WT *W1, __global const half *S1,            \
        __global const half *M1, int hm1, int rows1, __global float *y1,                          \
        __global const WT *W2, __global const half *S2, __global const half *M2, int hm2,         \
        int rows2, __global float *y2, int K, __global const float *x, int use_norm,              \
        __global const float *nw, float eps) {                                                     \
        __local float scratch[GEMV_ROWS * GEMV_WG];                                                \
        const int nb0 = (rows0 + GEMV_ROWS - 1) / GEMV_ROWS;                                       \
        const int nb1 = (rows1 + GEMV_ROWS - 1) / GEMV_ROWS;                                       \
        int b = get_group_id(0);                                                                   \
        const int t = get_global_id(1);                                                            \
        __global const WT *W = W0;                                                                 \
        __global const half *S = S0, *M = M0;                                                      \
        int hm = hm0, rows = rows0;                                                                \
        __global float *y = y0;                                                                    \
        if (b >= nb0 + nb1) {                                                                      \
            b -= nb0 + nb1; W = W2; S = S2; M = M2; hm = hm2; rows = rows2; y = y2;               \
        } else if (b >= nb0) {                                                                     \
            b -= nb0; W = W1; S = S1; M = M1; hm = hm1; rows = rows1; y = y1;                     \
        }                                                                                          \
        const long row0 = (long)b * GEMV_ROWS;                                                     \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        __global const float *xt = x + (long)t * K;                                                \
        const float inv = row_inv_rms(xt, K, use_norm, eps, scratch);                              \
        float acc[GEMV_ROWS];                                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;                                          \
        rows_##F(W, S, M, hm, row0, nrows, K, xt, acc, use_norm, nw, inv);                         \
        reduce_rows(acc, scratch);                                                                 \
        __global float *yt = y + (long)t * rows + row0;                                            \
        if (get_local_id(0) == 0)                                                                  \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) yt[r] = acc[r];                                                     \
    }                                                                                              \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_swiglu_##F(           \
        __global const WT *Wa, __global const half *Sa, __global const half *Ma, int hma,         \
        __global const WT *Wb, __global const half *Sb, __global const half *Mb, int hmb,         \
        int rows, int K, __global const float *x, __global float *y, int use_norm,                \
        __global const float *nw, float eps) {                                                     \
        __local float scratch[GEMV_ROWS * GEMV_WG];                                                \
        const long row0 = (long)get_group_id(0) * GEMV_ROWS;                                       \
        const int t = get_global_id(1);                                                            \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        __global const float *xt = x + (long)t * K;                                                \
        const float inv = row_inv_rms(xt, K, use_norm, eps, scratch);                              \
        float acc[GEMV_ROWS], bcc[GEMV_ROWS];                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = bcc[r] = 0.f;                                 \
        rows_##F(Wa, Sa, Ma, hma, row0, nrows, K, xt, acc, use_norm, nw, inv);                     \
        rows_##F(Wb, Sb, Mb, hmb, row0, nrows, K, xt, bcc, use_norm, nw, inv);                     \
        reduce_rows(acc, scratch);                                                                 \
        reduce_rows(bcc, scratch);                                                                 \
        __global float *yt = y + (long)t * rows + row0;                                            \
        if (get_local_id(0) == 0)                                                                  \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) yt[r] = acc[r] / (1.f + exp(-acc[r])) * bcc[r];                     \
    }

GEMV_KERNELS(q4, uint4, X4_ALIGNED, NW4_ALIGNED)
GEMV_KERNELS(q8, char, X4_ALIGNED, NW4_ALIGNED)
GEMV_KERNELS(f16, half, X4_ANY, NW4_ANY)
GEMV_KERNELS(f32, float, X4_ANY, NW4_ANY)
