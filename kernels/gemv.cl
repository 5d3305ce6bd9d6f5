// Decode products (a few tokens): y[t, r] (+)= W[r, :] · x[t, :] for up to three matrices that
// share the input x (q / k / v, gate / up, or one), in one launch.
// Work-group: GEMV_WG items = GEMV_WG / GEMV_LPR teams of GEMV_LPR lanes; a team owns GEMV_ROWS
// consecutive rows, lane l takes the 32-groups l, l + GEMV_LPR, ... (one 16-byte Q4 load per row
// per group, the group's activations loaded once for all rows), and the team's partial sums meet
// in span_sum (sub_group_reduce_add where a sub-group is a team). Work-groups are numbered over
// the matrices: the first ceil(rows0 / RPW) cover matrix 0, and so on. Grid (groups * GEMV_WG, n).
// Q4 / Q8_0 take int8 activations (quant.cl) and integer dot products; the group's float sum is
// d_w * (d_x * Σ q_w q_x - 8 * d_x Σ q_x) (Q4 without mins), d_w * d_x * Σ q_w q_x + m * d_x Σ q_x
// (with mins), d_w * d_x * Σ q_w q_x (Q8_0). F16 / F32 take float x.
// Output row r of matrix i for token t: y_i[t * ld_i + yo_i + r].

#define RPW (GEMV_ROWS * (GEMV_WG / GEMV_LPR))

#define GEMV_MAT_ARGS(WT, i)                                                                       \
    __global const WT *W##i, __global const half *S##i, __global const half *M##i, int hm##i,     \
        int rows##i, __global float *y##i, long yo##i, int ld##i

// Picks the matrix work-group b belongs to and makes b relative to it (W, S, M, hm, rows, y, yo, ld).
#define GEMV_ROUTE(WT)                                                                             \
    int b = get_group_id(0);                                                                       \
    const int nb0 = (rows0 + RPW - 1) / RPW, nb1 = (rows1 + RPW - 1) / RPW;                        \
    __global const WT *W = W0;                                                                     \
    __global const half *S = S0, *M = M0;                                                          \
    int hm = hm0, rows = rows0, ld = ld0;                                                          \
    __global float *y = y0;                                                                        \
    long yo = yo0;                                                                                 \
    if (b >= nb0 + nb1) {                                                                          \
        b -= nb0 + nb1; W = W2; S = S2; M = M2; hm = hm2; rows = rows2; y = y2; yo = yo2; ld = ld2; \
    } else if (b >= nb0) {                                                                         \
        b -= nb0; W = W1; S = S1; M = M1; hm = hm1; rows = rows1; y = y1; yo = yo1; ld = ld1;     \
    }                                                                                              \
    const int lane = get_local_id(0) % GEMV_LPR;                                                   \
    const int row0 = (b * (GEMV_WG / GEMV_LPR) + (int)get_local_id(0) / GEMV_LPR) * GEMV_ROWS;   \
    const int t = get_global_id(1);                                                                \
    const int G = K / 32;                                                                          \
    long rr[GEMV_ROWS]; /* rows, clamped: a tail team loads valid rows and stores none of them */ \
    for (int r = 0; r < GEMV_ROWS; ++r) rr[r] = min(row0 + r, rows - 1);                          \
    float acc[GEMV_ROWS];                                                                          \
    for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = 0.f;

// Reduces each row's partial sums over the team and stores them (lane 0).
#define GEMV_STORE()                                                                               \
    __local float scratch[GEMV_WG];                                                                \
    for (int r = 0; r < GEMV_ROWS; ++r) acc[r] = span_sum(acc[r], GEMV_LPR, scratch);             \
    if (lane == 0)                                                                                 \
        for (int r = 0; r < GEMV_ROWS && row0 + r < rows; ++r) {                                   \
            __global float *o = y + (long)t * ld + yo + row0 + r;                                  \
            *o = accumulate ? *o + acc[r] : acc[r];                                                \
        }

__kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_q4(
    GEMV_MAT_ARGS(uint4, 0), GEMV_MAT_ARGS(uint4, 1), GEMV_MAT_ARGS(uint4, 2), int K,
    __global const uint *xq, __global const float2 *xd, int accumulate) {
    GEMV_ROUTE(uint4)
    __global const uint *xqt = xq + (long)t * G * 8;
    __global const float2 *xdt = xd + (long)t * G;
    for (int g = lane; g < G; g += GEMV_LPR) {
        const uint4 xl = vload4(0, xqt + g * 8), xh = vload4(1, xqt + g * 8);
        const float2 dx = xdt[g];
        for (int r = 0; r < GEMV_ROWS; ++r) {
            const long gi = rr[r] * G + g;
            const float s = (float)q4_dot_i8(W[gi], xl, xh);
            const float d = vload_half(gi, S);
            acc[r] += hm ? d * dx.x * s + vload_half(gi, M) * dx.y : d * (dx.x * s - 8.f * dx.y);
        }
    }
    GEMV_STORE()
}

__kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_q8(
    GEMV_MAT_ARGS(uint4, 0), GEMV_MAT_ARGS(uint4, 1), GEMV_MAT_ARGS(uint4, 2), int K,
    __global const uint *xq, __global const float2 *xd, int accumulate) {
    GEMV_ROUTE(uint4)
    __global const uint *xqt = xq + (long)t * G * 8;
    __global const float2 *xdt = xd + (long)t * G;
    for (int g = lane; g < G; g += GEMV_LPR) {
        const uint4 xl = vload4(0, xqt + g * 8), xh = vload4(1, xqt + g * 8);
        const float dx = xdt[g].x;
        for (int r = 0; r < GEMV_ROWS; ++r) {
            const long gi = rr[r] * G + g;
            acc[r] += vload_half(gi, S) * dx * (float)q8_dot_i8(W[2 * gi], W[2 * gi + 1], xl, xh);
        }
    }
    GEMV_STORE()
}

// Float weights (any K): row r's element k at rr[r] * K + k; the 32-groups first, the K % 32 tail
// element by element.
#define GEMV_FLOAT(F, WT, LOAD4, LOAD1)                                                            \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_##F(                  \
        GEMV_MAT_ARGS(WT, 0), GEMV_MAT_ARGS(WT, 1), GEMV_MAT_ARGS(WT, 2), int K,                  \
        __global const float *x, long x_off, int accumulate) {                                    \
        GEMV_ROUTE(WT)                                                                             \
        __global const float *xt = x + x_off + (long)t * K;                                       \
        for (int g = lane; g < G; g += GEMV_LPR) {                                                 \
            float4 xv[8];                                                                          \
            for (int j = 0; j < 8; ++j) xv[j] = vload4(0, xt + g * 32 + 4 * j);                    \
            for (int r = 0; r < GEMV_ROWS; ++r) {                                                  \
                __global const WT *wr = W + rr[r] * K + g * 32;                                    \
                float4 s = (float4)(0.f);                                                          \
                for (int j = 0; j < 8; ++j) s += LOAD4(0, wr + 4 * j) * xv[j];                     \
                acc[r] += s.x + s.y + s.z + s.w;                                                   \
            }                                                                                      \
        }                                                                                          \
        for (int k = G * 32 + lane; k < K; k += GEMV_LPR)                                          \
            for (int r = 0; r < GEMV_ROWS; ++r) acc[r] += LOAD1(rr[r] * K + k, W) * xt[k];        \
        GEMV_STORE()                                                                               \
    }

#define LOAD1_HALF(i, p) vload_half(i, p)
#define LOAD1_FLOAT(i, p) (p)[i]
GEMV_FLOAT(f16, half, vload_half4, LOAD1_HALF)
GEMV_FLOAT(f32, float, vload4, LOAD1_FLOAT)
