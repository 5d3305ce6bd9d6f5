// Matrix-vector products for decode (a few tokens): y[t, r] (+)= sum_k W[r, k] x[t, k].
// A work-group of GEMV_WG items is split into teams of GEMV_LPR items; each team owns GEMV_ROWS
// consecutive rows and its item i walks the 32-groups i, i+GEMV_LPR, ... (enough work per item
// before the reduction, which only spans the team): one 16-byte load of packed weights per row per group, the 32 activations
// loaded once (float4 x 8) and reused for all rows, Σx of the group computed once and reused to
// fold the Q4 zero point / min: d * (Σ q·x − 8 Σx) or d * Σ q·x + m * Σx. fp32 accumulation,
// one work-group reduction (sub-groups where present) per row at the end.
// Kernels per format F: gemv_F (one matrix), gemv3_F (three matrices sharing x: q, k, v) and
// gemv_swiglu_F (silu(A x) * (B x)). Grid: (n_blocks * GEMV_WG, n_tokens).

// Nibbles to floats without int->float conversions (a quarter-rate instruction on NVIDIA and a
// main cost on Mali): each nibble q is shifted into the top 4 mantissa bits of 1.0f, giving the
// exact value 1 + q/16; then sum (1 + q/16) x = sum x + (sum q x) / 16, so
// sum q x = 16 (dot - sum x). Word w holds elements 0..7 at bits 4i.
inline float4 nib_lo(uint w) {
    return as_float4(((uint4)(w << 19, w << 15, w << 11, w << 7) & 0x00780000u) | 0x3F800000u);
}
inline float4 nib_hi(uint w) {
    return as_float4(((uint4)(w << 3, w >> 1, w >> 5, w >> 9) & 0x00780000u) | 0x3F800000u);
}

// Q4 / Q8 groups are split into a load part (LOADW_F: the packed weights of one group, as one
// register value) and a math part (MATH_F), so that rows_q* can issue every load of a step
// (GEMV_UNROLL groups x GEMV_ROWS rows: weights, scales, mins) before any arithmetic: the
// memory-level parallelism a latency-bound GEMV needs. gi = row * (K / 32) + group.
#define LOADW_q4(W, gi) (((__global const uint4 *)(W))[gi])
#define LOADW_q8(W, gi) (((__global const uint8 *)(W))[gi])
inline float math_q4(uint4 w, float d, float mn, int hm, const float4 *xv, float sx) {
    const float dv = dot(nib_lo(w.s0), xv[0]) + dot(nib_hi(w.s0), xv[1]) +
                     dot(nib_lo(w.s1), xv[2]) + dot(nib_hi(w.s1), xv[3]) +
                     dot(nib_lo(w.s2), xv[4]) + dot(nib_hi(w.s2), xv[5]) +
                     dot(nib_lo(w.s3), xv[6]) + dot(nib_hi(w.s3), xv[7]);
    const float dq = 16.f * (dv - sx);  // sum q x
    return hm ? d * dq + mn * sx : d * (dq - 8.f * sx);
}
inline float math_q8(uint8 w, float d, float mn, int hm, const float4 *xv, float sx) {
    const float16 a = convert_float16(as_char16(w.lo));
    const float16 b = convert_float16(as_char16(w.hi));
    const float dq = dot(a.s0123, xv[0]) + dot(a.s4567, xv[1]) + dot(a.s89ab, xv[2]) + dot(a.scdef, xv[3]) +
                     dot(b.s0123, xv[4]) + dot(b.s4567, xv[5]) + dot(b.s89ab, xv[6]) + dot(b.scdef, xv[7]);
    return d * dq;
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
inline float tail_f16(__global const half *W, long row, int k, int K) { return vload_half(row * K + k, W); }
inline float tail_f32(__global const float *W, long row, int k, int K) { return W[row * K + k]; }

// Reduces acc[0..GEMV_ROWS) over each team in one pass (one tree for all rows, not one per row);
// afterwards item 0 of each team (OWNS_ROW) holds the totals in acc[]. scratch: GEMV_ROWS * GEMV_WG floats.
#define OWNS_ROW(r) (get_local_id(0) % GEMV_LPR == 0)
inline void reduce_rows(float *acc, __local float *scratch) {
#if USE_SUBGROUPS
    if (GEMV_LPR == GEMV_WG) {  // one team: sub-group reductions
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = wg_sum(acc[r], scratch, GEMV_WG);
        return;
    }
#endif
    const int lid = get_local_id(0);
#if GEMV_LPR == GEMV_WG && GEMV_WG % GEMV_ROWS == 0 && GEMV_WG >= GEMV_ROWS * GEMV_ROWS && !USE_SUBGROUPS
    // One team: a transposed two-step sum (2 barriers, ROWS + WG/ROWS adds per item) instead of
    // a log2(WG)-step tree over all rows. Item l first sums ROWS values of row l / (WG/ROWS).
    {
        const int P = GEMV_WG / GEMV_ROWS;  // partial sums per row after step 1
        for (int r = 0; r < GEMV_ROWS; ++r) scratch[r * GEMV_WG + lid] = acc[r];
        barrier(CLK_LOCAL_MEM_FENCE);
        const int row = lid / P, seg = lid % P;
        float part = 0.f;
        for (int i = 0; i < GEMV_ROWS; ++i) part += scratch[row * GEMV_WG + seg * GEMV_ROWS + i];
        barrier(CLK_LOCAL_MEM_FENCE);
        scratch[lid] = part;  // row-major (ROWS, P)
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < GEMV_ROWS) {  // item r finishes row r
            float t = 0.f;
            for (int i = 0; i < P; ++i) t += scratch[lid * P + i];
            scratch[GEMV_WG + lid] = t;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = scratch[GEMV_WG + r];
        barrier(CLK_LOCAL_MEM_FENCE);
        return;
    }
#endif
    const int tl = lid % GEMV_LPR;
    for (int r = 0; r < GEMV_ROWS; ++r) scratch[r * GEMV_WG + lid] = acc[r];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = GEMV_LPR / 2; s > 0; s >>= 1) {
        if (tl < s)
            for (int r = 0; r < GEMV_ROWS; ++r) scratch[r * GEMV_WG + lid] += scratch[r * GEMV_WG + lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = scratch[r * GEMV_WG + lid - tl];
    barrier(CLK_LOCAL_MEM_FENCE);  // scratch may be reused right after
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
        const int lid = get_local_id(0) % GEMV_LPR;                                                \
        const int G = K / 32;                                                                      \
        for (int g = lid; g < G; g += GEMV_LPR) {                                                  \
            float4 xv[8];                                                                          \
            for (int j = 0; j < 8; ++j) xv[j] = X4(g * 8 + j);                                     \
            if (use_norm)                                                                          \
                for (int j = 0; j < 8; ++j) xv[j] *= NW4(g * 8 + j) * inv;                         \
            const float4 s4 = xv[0] + xv[1] + xv[2] + xv[3] + xv[4] + xv[5] + xv[6] + xv[7];      \
            const float sx = s4.x + s4.y + s4.z + s4.w;                                            \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) acc[r] += group_##F(W, S, M, hm, row0 + r, g, K, xv, sx);           \
        }                                                                                          \
        for (int k = G * 32 + lid; k < K; k += GEMV_LPR) {                                         \
            const float xk = use_norm ? x[k] * nw[k] * inv : x[k];                                 \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) acc[r] += tail_##F(W, row0 + r, k, K) * xk;                         \
        }                                                                                          \
    }

// Quantized formats (K % 32 == 0): rows beyond nrows are clamped to the last valid row so that
// every load is unconditional (the caller discards their sums); one step = GEMV_UNROLL groups of
// GEMV_ROWS rows, all loads first, then the math.
#define GEMV_ROWS_Q(F, WT, LT)                                                                    \
    inline void rows_##F(__global const WT *W, __global const half *S, __global const half *M,    \
                         int hm, long row0, int nrows, int K, __global const float *x,            \
                         float *acc, int use_norm, __global const float *nw, float inv) {          \
        const int lid = get_local_id(0) % GEMV_LPR;                                                \
        const int G = K / 32;                                                                      \
        long rb[GEMV_ROWS];                                                                        \
        for (int r = 0; r < GEMV_ROWS; ++r) rb[r] = (row0 + min(r, nrows - 1)) * G;                \
        for (int g0 = lid; g0 < G; g0 += GEMV_LPR * GEMV_UNROLL) {                                \
            LT w[GEMV_UNROLL * GEMV_ROWS];                                                         \
            float d[GEMV_UNROLL * GEMV_ROWS], mn[GEMV_UNROLL * GEMV_ROWS];                         \
            for (int u = 0; u < GEMV_UNROLL; ++u) {                                                \
                const int g = min(g0 + u * GEMV_LPR, G - 1);                                       \
                for (int r = 0; r < GEMV_ROWS; ++r) {                                              \
                    const long gi = rb[r] + g;                                                     \
                    w[u * GEMV_ROWS + r] = LOADW_##F(W, gi);                                       \
                    d[u * GEMV_ROWS + r] = vload_half(gi, S);                                      \
                    mn[u * GEMV_ROWS + r] = hm ? vload_half(gi, M) : 0.f;                          \
                }                                                                                  \
            }                                                                                      \
            for (int u = 0; u < GEMV_UNROLL; ++u) {                                                \
                const int g = g0 + u * GEMV_LPR;                                                   \
                if (g >= G) break;                                                                 \
                float4 xv[8];                                                                      \
                for (int j = 0; j < 8; ++j) xv[j] = X4_ALIGNED(g * 8 + j);                         \
                if (use_norm)                                                                      \
                    for (int j = 0; j < 8; ++j) xv[j] *= NW4_ALIGNED(g * 8 + j) * inv;             \
                const float4 s4 = xv[0] + xv[1] + xv[2] + xv[3] + xv[4] + xv[5] + xv[6] + xv[7];  \
                const float sx = s4.x + s4.y + s4.z + s4.w;                                        \
                for (int r = 0; r < GEMV_ROWS; ++r)                                                \
                    acc[r] += math_##F(w[u * GEMV_ROWS + r], d[u * GEMV_ROWS + r],                 \
                                       mn[u * GEMV_ROWS + r], hm, xv, sx);                         \
            }                                                                                      \
        }                                                                                          \
    }

// gemv_F: y[t*ldy + y_off + r] (+)= W x_t. gemv3_F: three matrices over the same x (q, k, v),
// optionally RMS-normalised on the fly (use_norm, nw, eps). gemv_swiglu_F: silu(Wa x) * (Wb x),
// same optional norm.
#define GEMV_KERNELS(F, WT)                                                                       \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_##F(                  \
        __global const WT *W, __global const half *S, __global const half *M, int hm, int rows,   \
        int K, __global const float *x, int x_off, __global float *y, int y_off, int ldy,         \
        int accumulate) {                                                                          \
        __local float scratch[GEMV_ROWS * GEMV_WG];                                                \
        const long row0 = ((long)get_group_id(0) * GEMV_TEAMS + get_local_id(0) / GEMV_LPR) * GEMV_ROWS; \
        const int t = get_global_id(1);                                                            \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        float acc[GEMV_ROWS];                                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;                                          \
        rows_##F(W, S, M, hm, row0, nrows, K, x + x_off + (long)t * K, acc, 0, x, 1.f);            \
        reduce_rows(acc, scratch);                                                                 \
        __global float *yt = y + y_off + (long)t * ldy + row0;                                     \
        if (get_local_id(0) % GEMV_LPR == 0)                                                                  \
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
        const int RPW = GEMV_TEAMS * GEMV_ROWS; /* rows per work-group */                         \
        const int nb0 = (rows0 + RPW - 1) / RPW;                                                   \
        const int nb1 = (rows1 + RPW - 1) / RPW;                                                   \
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
        const long row0 = ((long)b * GEMV_TEAMS + get_local_id(0) / GEMV_LPR) * GEMV_ROWS;       \
        const int nrows = min(GEMV_ROWS, rows - (int)row0);                                        \
        __global const float *xt = x + (long)t * K;                                                \
        const float inv = row_inv_rms(xt, K, use_norm, eps, scratch);                              \
        float acc[GEMV_ROWS];                                                                      \
        for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;                                          \
        rows_##F(W, S, M, hm, row0, nrows, K, xt, acc, use_norm, nw, inv);                         \
        reduce_rows(acc, scratch);                                                                 \
        __global float *yt = y + (long)t * rows + row0;                                            \
        if (get_local_id(0) % GEMV_LPR == 0)                                                                  \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) yt[r] = acc[r];                                                     \
    }                                                                                              \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_swiglu_##F(           \
        __global const WT *Wa, __global const half *Sa, __global const half *Ma, int hma,         \
        __global const WT *Wb, __global const half *Sb, __global const half *Mb, int hmb,         \
        int rows, int K, __global const float *x, __global float *y, int use_norm,                \
        __global const float *nw, float eps) {                                                     \
        __local float scratch[GEMV_ROWS * GEMV_WG];                                                \
        const long row0 = ((long)get_group_id(0) * GEMV_TEAMS + get_local_id(0) / GEMV_LPR) * GEMV_ROWS; \
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
        if (get_local_id(0) % GEMV_LPR == 0)                                                                  \
            for (int r = 0; r < GEMV_ROWS; ++r)                                                    \
                if (r < nrows) yt[r] = acc[r] / (1.f + exp(-acc[r])) * bcc[r];                     \
    }

GEMV_ROWS_Q(q4, uint4, uint4)
GEMV_ROWS_Q(q8, char, uint8)
GEMV_ROWS_FN(f16, half, X4_ANY, NW4_ANY)
GEMV_ROWS_FN(f32, float, X4_ANY, NW4_ANY)
GEMV_KERNELS(q4, uint4)
GEMV_KERNELS(q8, char)
GEMV_KERNELS(f16, half)
GEMV_KERNELS(f32, float)

// ---- Group-major ("gm") decode products (tuning flag gm; the NVIDIA path) -------------------
// Layout (re-laid at upload): for 32-group g and row r, the packed block (16 B Q4 / 32 B Q8) is at
// index g * rows + r, scales and mins likewise [g][rows]. Work-group = (R, NS) items: R row lanes x
// NS K-slices (R * NS <= GM_WG); lane l of block b owns rows b*R*GM_ROWS + l + i*R (i < GM_ROWS),
// so each of its loads is coalesced across the lanes. Slice s walks groups s*GM_UNROLL +
// j*NS*GM_UNROLL (GM_UNROLL consecutive groups per step, all loads first). The activations of a
// group (broadcast loads), their Σx, the norm weight and Σx² are computed once per item and shared
// by its GM_ROWS rows and, for SwiGLU, both matrices. The NS partial sums of a row are added through
// __local once at the end (one barrier, no tree). RMSNorm folding: the dots use x * nw and the row
// totals are scaled by 1/RMS(x) (Σx² accumulated by the slices on the way).

#define GM_ACC(F, LT)                                                                             \
    inline void gm_acc_##F(__global const LT *WA, __global const half *SA, __global const half *MA, \
                           int hma, __global const LT *WB, __global const half *SB,               \
                           __global const half *MB, int hmb, int two, int rows, int row0, int R,  \
                           int G, int s, int ns, __global const float *x, int use_norm,           \
                           __global const float *nw, float *acc, float *bcc, float *ss) {         \
        long rr[GM_ROWS];                                                                          \
        for (int i = 0; i < GM_ROWS; ++i) rr[i] = min(row0 + i * R, rows - 1);                     \
        for (int g0 = s * GM_UNROLL; g0 < G; g0 += ns * GM_UNROLL) {                              \
            GM_LOAD_STEP(LT)                                                                       \
            for (int u = 0; u < GM_UNROLL; ++u) {                                                  \
                const int g = g0 + u;                                                              \
                if (g >= G) break;                                                                 \
                float4 xv[8];                                                                      \
                for (int j = 0; j < 8; ++j) xv[j] = X4_ALIGNED(g * 8 + j);                         \
                if (use_norm)                                                                      \
                    for (int j = 0; j < 8; ++j) {                                                  \
                        *ss += dot(xv[j], xv[j]);                                                  \
                        xv[j] *= NW4_ALIGNED(g * 8 + j);                                           \
                    }                                                                              \
                const float4 s4 = xv[0] + xv[1] + xv[2] + xv[3] + xv[4] + xv[5] + xv[6] + xv[7];  \
                const float sx = s4.x + s4.y + s4.z + s4.w;                                        \
                for (int i = 0; i < GM_ROWS; ++i) {                                                \
                    const int k = u * GM_ROWS + i;                                                 \
                    acc[i] += math_##F(wa[k], da[k], ma[k], hma, xv, sx);                          \
                    if (two) bcc[i] += math_##F(wb[k], db[k], mb[k], hmb, xv, sx);                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
GM_ACC(q4, uint4)
GM_ACC(q8, uint8)

// Grid (blocks * R, NS, n_tokens), local (R, NS, 1); a block covers R * GM_ROWS rows.
// gm_F: y[t*ldy + y_off + r] (+)= W x_t. gm3_F: q, k, v over one x (optional RMSNorm).
// gm_swiglu_F: silu(Wa x) * (Wb x) (optional RMSNorm).
#define GM_KERNELS(F, LT)                                                                         \
    __kernel void gm_##F(__global const LT *W, __global const half *S, __global const half *M,    \
                         int hm, int rows, int K, __global const float *x, int x_off,             \
                         __global float *y, int y_off, int ldy, int accumulate) {                  \
        __local float red[GM_RED];                                                                 \
        const int R = get_local_size(0), t = get_global_id(2);                                     \
        const int row0 = get_group_id(0) * R * GM_ROWS + get_local_id(0);                          \
        float a[GM_ROWS], b[GM_ROWS], ss = 0.f;                                                    \
        for (int i = 0; i < GM_ROWS; ++i) a[i] = b[i] = 0.f;                                       \
        gm_acc_##F(W, S, M, hm, W, S, M, hm, 0, rows, row0, R, K / 32, get_local_id(1),            \
                   get_local_size(1), x + x_off + (long)t * K, 0, x, a, b, &ss);                   \
        gm_reduce(a, b, &ss, red);                                                                 \
        if (get_local_id(1) != 0) return;                                                          \
        __global float *yt = y + y_off + (long)t * ldy;                                            \
        for (int i = 0; i < GM_ROWS; ++i) {                                                        \
            const int row = row0 + i * R;                                                          \
            if (row < rows) yt[row] = accumulate ? yt[row] + a[i] : a[i];                          \
        }                                                                                          \
    }                                                                                              \
    __kernel void gm3_##F(__global const LT *W0, __global const half *S0, __global const half *M0, \
                          int hm0, int rows0, __global float *y0, __global const LT *W1,         \
                          __global const half *S1, __global const half *M1, int hm1, int rows1,   \
                          __global float *y1, __global const LT *W2, __global const half *S2,     \
                          __global const half *M2, int hm2, int rows2, __global float *y2, int K, \
                          __global const float *x, int use_norm, __global const float *nw,        \
                          float eps) {                                                             \
        __local float red[GM_RED];                                                                 \
        const int R = get_local_size(0), RB = R * GM_ROWS;                                         \
        const int nb0 = (rows0 + RB - 1) / RB, nb1 = (rows1 + RB - 1) / RB;                        \
        int bk = get_group_id(0);                                                                  \
        const int t = get_global_id(2);                                                            \
        __global const LT *W = W0;                                                                 \
        __global const half *S = S0, *M = M0;                                                      \
        int hm = hm0, rows = rows0;                                                                \
        __global float *y = y0;                                                                    \
        if (bk >= nb0 + nb1) {                                                                     \
            bk -= nb0 + nb1; W = W2; S = S2; M = M2; hm = hm2; rows = rows2; y = y2;              \
        } else if (bk >= nb0) {                                                                    \
            bk -= nb0; W = W1; S = S1; M = M1; hm = hm1; rows = rows1; y = y1;                    \
        }                                                                                          \
        const int row0 = bk * RB + get_local_id(0);                                                \
        float a[GM_ROWS], b[GM_ROWS], ss = 0.f;                                                    \
        for (int i = 0; i < GM_ROWS; ++i) a[i] = b[i] = 0.f;                                       \
        gm_acc_##F(W, S, M, hm, W, S, M, hm, 0, rows, row0, R, K / 32, get_local_id(1),            \
                   get_local_size(1), x + (long)t * K, use_norm, nw, a, b, &ss);                   \
        gm_reduce(a, b, &ss, red);                                                                 \
        if (get_local_id(1) != 0) return;                                                          \
        const float inv = use_norm ? rsqrt(ss / (float)K + eps) : 1.f;                             \
        for (int i = 0; i < GM_ROWS; ++i) {                                                        \
            const int row = row0 + i * R;                                                          \
            if (row < rows) y[(long)t * rows + row] = a[i] * inv;                                  \
        }                                                                                          \
    }                                                                                              \
    __kernel void gm_swiglu_##F(__global const LT *Wa, __global const half *Sa,                   \
                                __global const half *Ma, int hma, __global const LT *Wb,          \
                                __global const half *Sb, __global const half *Mb, int hmb,        \
                                int rows, int K, __global const float *x, __global float *y,      \
                                int use_norm, __global const float *nw, float eps) {               \
        __local float red[GM_RED];                                                                 \
        const int R = get_local_size(0), t = get_global_id(2);                                     \
        const int row0 = get_group_id(0) * R * GM_ROWS + get_local_id(0);                          \
        float a[GM_ROWS], b[GM_ROWS], ss = 0.f;                                                    \
        for (int i = 0; i < GM_ROWS; ++i) a[i] = b[i] = 0.f;                                       \
        gm_acc_##F(Wa, Sa, Ma, hma, Wb, Sb, Mb, hmb, 1, rows, row0, R, K / 32, get_local_id(1),    \
                   get_local_size(1), x + (long)t * K, use_norm, nw, a, b, &ss);                   \
        gm_reduce(a, b, &ss, red);                                                                 \
        if (get_local_id(1) != 0) return;                                                          \
        const float inv = use_norm ? rsqrt(ss / (float)K + eps) : 1.f;                             \
        for (int i = 0; i < GM_ROWS; ++i) {                                                        \
            const int row = row0 + i * R;                                                          \
            const float av = a[i] * inv;                                                           \
            if (row < rows) y[(long)t * rows + row] = av / (1.f + exp(-av)) * (b[i] * inv);        \
        }                                                                                          \
    }
GM_KERNELS(q4, uint4)
GM_KERNELS(q8, uint8)
