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

// Partial sums of GEMV_ROWS rows (row0.., nrows valid) for this work-item into acc.
#define GEMV_ROWS_FN(F, WT)                                                                       \
    inline void rows_##F(__global const WT *W, __global const half *S, __global const half *M,    \
                         int hm, long row0, int nrows, int K, __global const float *x,            \
                         float *acc) {                                                             \
        const int lid = get_local_id(0);                                                           \
        const int G = K / 32;                                                                      \
        for (int g = lid; g < G; g += GEMV_WG) {                                                   \
            float4 xv[8];                                                                          \
            for (int j = 0; j < 8; ++j) xv[j] = vload4(g * 8 + j, x);                              \
            const float4 s4 = xv[0] + xv[1] + xv[2] + xv[3] + xv[4] + xv[5] + xv[6] + xv[7];      \
            const float sx = s4.x + s4.y + s4.z + s4.w;                                            \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) acc[r] += group_##F(W, S, M, hm, row0 + r, g, K, xv, sx);           \
        }                                                                                          \
        for (int k = G * 32 + lid; k < K; k += GEMV_WG) {                                          \
            const float xk = x[k];                                                                 \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) acc[r] += tail_##F(W, row0 + r, k, K) * xk;                         \
        }                                                                                          \
    }

#define GEMV_KERNELS(F, WT)                                                                       \
    GEMV_ROWS_FN(F, WT)                                                                           \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_##F(                  \
        __global const WT *W, __global const half *S, __global const half *M, int hm, int rows,   \
        int K, __global const float *x, int x_off, __global float *y, int y_off, int ldy,         \
        int accumulate) {                                                                          \
        __local float scratch[GEMV_WG];                                                            \
        const long row0 = (long)get_group_id(0) * GEMV_ROWS;                                       \
        const int t = get_global_id(1);                                                            \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        float acc[GEMV_ROWS];                                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;                                          \
        rows_##F(W, S, M, hm, row0, nrows, K, x + x_off + (long)t * K, acc);                       \
        __global float *yt = y + y_off + (long)t * ldy + row0;                                     \
        for (int r = 0; r < GEMV_ROWS; ++r) {                                                      \
            const float s = wg_sum(acc[r], scratch, GEMV_WG);                                      \
            if (get_local_id(0) == 0 && r < nrows) yt[r] = accumulate ? yt[r] + s : s;             \
        }                                                                                          \
    }                                                                                              \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv3_##F(                 \
        __global const WT *W0, __global const half *S0, __global const half *M0, int hm0,         \
        int rows0, __global float *y0, __global const WT *W1, __global const half *S1,            \
        __global const half *M1, int hm1, int rows1, __global float *y1,                          \
        __global const WT *W2, __global const half *S2, __global const half *M2, int hm2,         \
        int rows2, __global float *y2, int K, __global const float *x) {                          \
        __local float scratch[GEMV_WG];                                                            \
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
        float acc[GEMV_ROWS];                                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;                                          \
        rows_##F(W, S, M, hm, row0, nrows, K, x + (long)t * K, acc);                               \
        __global float *yt = y + (long)t * rows + row0;                                            \
        for (int r = 0; r < GEMV_ROWS; ++r) {                                                      \
            const float s = wg_sum(acc[r], scratch, GEMV_WG);                                      \
            if (get_local_id(0) == 0 && r < nrows) yt[r] = s;                                      \
        }                                                                                          \
    }                                                                                              \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_swiglu_##F(           \
        __global const WT *Wa, __global const half *Sa, __global const half *Ma, int hma,         \
        __global const WT *Wb, __global const half *Sb, __global const half *Mb, int hmb,         \
        int rows, int K, __global const float *x, __global float *y) {                            \
        __local float scratch[GEMV_WG];                                                            \
        const long row0 = (long)get_group_id(0) * GEMV_ROWS;                                       \
        const int t = get_global_id(1);                                                            \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        float acc[GEMV_ROWS], bcc[GEMV_ROWS];                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = bcc[r] = 0.f;                                 \
        rows_##F(Wa, Sa, Ma, hma, row0, nrows, K, x + (long)t * K, acc);                           \
        rows_##F(Wb, Sb, Mb, hmb, row0, nrows, K, x + (long)t * K, bcc);                           \
        __global float *yt = y + (long)t * rows + row0;                                            \
        for (int r = 0; r < GEMV_ROWS; ++r) {                                                      \
            const float a = wg_sum(acc[r], scratch, GEMV_WG);                                      \
            const float u = wg_sum(bcc[r], scratch, GEMV_WG);                                      \
            if (get_local_id(0) == 0 && r < nrows) yt[r] = a / (1.f + exp(-a)) * u;                \
        }                                                                                          \
    }

GEMV_KERNELS(q4, uint4)
GEMV_KERNELS(q8, char)
GEMV_KERNELS(f16, half)
GEMV_KERNELS(f32, float)
