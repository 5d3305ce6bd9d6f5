// Types and helpers shared by every kernel file (prepended to each program after the host's
// #defines). Tuning constants come from the host: GEMV_WG, GEMV_ROWS, ATTN_WG, ATTN_MAX_CHUNK,
// HEAD_DIM_MAX, NORM_WG (powers of two) and USE_SUBGROUPS (0/1).
// Arithmetic is float everywhere; half is a storage type only (vload_half/vstore_half, core CL).

#if USE_SUBGROUPS
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif

// Sum of `v` over a work-group of `wg` items (a power of two). Every item gets the result.
// scratch holds wg floats. Contains barriers: call from uniform control flow only.
inline float wg_sum(float v, __local float *scratch, int wg) {
    const int lid = get_local_id(0);
#if USE_SUBGROUPS
    v = sub_group_reduce_add(v);
    const int nsg = get_num_sub_groups();
    if (nsg == 1) return v;
    if (get_sub_group_local_id() == 0) scratch[get_sub_group_id()] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    float s = 0.f;
    for (int i = 0; i < nsg; ++i) s += scratch[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    return s;
#else
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = wg / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
#endif
}

// Maximum over the work-group, same contract as wg_sum.
inline float wg_max(float v, __local float *scratch, int wg) {
    const int lid = get_local_id(0);
#if USE_SUBGROUPS
    v = sub_group_reduce_max(v);
    const int nsg = get_num_sub_groups();
    if (nsg == 1) return v;
    if (get_sub_group_local_id() == 0) scratch[get_sub_group_id()] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    float s = -INFINITY;
    for (int i = 0; i < nsg; ++i) s = fmax(s, scratch[i]);
    barrier(CLK_LOCAL_MEM_FENCE);
    return s;
#else
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = wg / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
#endif
}

// Values that cross work-groups of one launch (a ticket's last work-group reads the others'):
// written with atomic_xchg, then GLOBAL_RELEASE() before the ticket's atomic, read with atomics.
// Orders this item's global writes before its later atomics for other work-groups (device scope).
#if DOT_IMPL == 3
#define GLOBAL_RELEASE() asm volatile("membar.gl;" ::: "memory")
#else
#define GLOBAL_RELEASE() mem_fence(CLK_GLOBAL_MEM_FENCE)
#endif

// A float another work-group of this launch wrote with atomic_xchg (atomic: no stale cache line).
inline float atomic_load_f(__global float *p) { return as_float(atomic_or((__global int *)p, 0)); }

// Four nibbles of `u` starting at bit `shift`, as floats 0..15.
inline float4 nib4(uint u, int shift) {
    uint4 q = ((uint4)(u >> shift, u >> (shift + 4), u >> (shift + 8), u >> (shift + 12))) & 0xFu;
    return convert_float4(q);
}

// One weight element (row, k) of a matrix with K columns in each run format (tensor.h layout).
inline float elem_q4(__global const uint *W, __global const half *S, __global const half *M,
                     int has_mins, long row, int k, int K) {
    uint u = W[row * (K / 8) + k / 8];
    float q = (float)((u >> (4 * (k % 8))) & 0xFu);
    long gi = row * (K / 32) + k / 32;
    float d = vload_half(gi, S);
    return has_mins ? d * q + vload_half(gi, M) : d * (q - 8.f);
}
inline float elem_q8(__global const char *W, __global const half *S, long row, int k, int K) {
    return vload_half(row * (K / 32) + k / 32, S) * (float)W[row * K + k];
}
inline float elem_f16(__global const half *W, long row, int k, int K) { return vload_half(row * K + k, W); }
inline float elem_f32(__global const float *W, long row, int k, int K) { return W[row * K + k]; }

// ---- int8 activations (gemv.cl quant_act / gmq_*, attention.cl attn_reduce_q) ----
// Quantizes 8 consecutive values (a, b) per item into word pair j of 32-group g: xq_t[g*8 + j]
// (elements 0, 2, 4, 6 as int8) and [g*8 + 4 + j] (1, 3, 5, 7); the item with j == 0 writes
// xd_t[g] = (d, Σv, Σq, 0). The four items of a group are local ids 4i..4i+3 (lid & ~3), which
// combine max and sums through am / sv / sq (one float / int per item). Uniform control flow;
// items with ok == 0 take part in the barriers only. qa_quant8: global destination, qa_quant8_l:
// __local.
#define QA_QUANT8(NAME, AS)                                                                        \
inline void NAME(float4 a, float4 b, bool ok, int lid, int g, int j, AS uint *xq_t, AS float4 *xd_t, \
                 __local float *am, __local float *sv, __local int *sq) {                          \
    if (!ok) a = b = (float4)(0.f);                                                                \
    const float4 fa = fmax(fabs(a), fabs(b));                                                      \
    am[lid] = fmax(fmax(fa.x, fa.y), fmax(fa.z, fa.w));                                            \
    const float4 s4 = a + b;                                                                       \
    sv[lid] = (s4.x + s4.y) + (s4.z + s4.w);                                                       \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                  \
    const int l0 = lid & ~3;                                                                       \
    const float amax = fmax(fmax(am[l0], am[l0 + 1]), fmax(am[l0 + 2], am[l0 + 3]));               \
    const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;                                    \
    const char4 lo = convert_char4_sat_rte((float4)(a.x, a.z, b.x, b.z) * id);                     \
    const char4 hi = convert_char4_sat_rte((float4)(a.y, a.w, b.y, b.w) * id);                     \
    const int4 q4 = convert_int4(lo) + convert_int4(hi);                                           \
    sq[lid] = q4.x + q4.y + q4.z + q4.w;                                                           \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                  \
    if (ok) {                                                                                      \
        xq_t[g * 8 + j] = as_uint(lo);                                                             \
        xq_t[g * 8 + 4 + j] = as_uint(hi);                                                         \
        if (j == 0)                                                                                \
            xd_t[g] = (float4)(d, (sv[l0] + sv[l0 + 1]) + (sv[l0 + 2] + sv[l0 + 3]),               \
                               (float)(sq[l0] + sq[l0 + 1] + sq[l0 + 2] + sq[l0 + 3]), 0.f);       \
    }                                                                                              \
    barrier(CLK_LOCAL_MEM_FENCE); /* am, sv, sq reusable */                                        \
}
QA_QUANT8(qa_quant8, __global)
QA_QUANT8(qa_quant8_l, __local)

// 1 / RMS of one token's x (K floats, K % 4 == 0) with eps, summed by a whole work-group (1-D or
// 2-D: flattened id lid of wgs items, a power of two) through scr (QA_SCR(wgs) floats): the
// items' partial sums, then 16 sums of wgs / 16 of them, then every item adds the 16 (three
// barriers, not a log2(wgs)-deep tree). Uniform control flow.
#define QA_SCR(wgs) ((wgs) + 16)
inline float qa_inv_rms(__global const float *xt, int K, float eps, int lid, int wgs, __local float *scr) {
    float s = 0.f;
    for (int i = lid; i < K / 4; i += wgs) {
        const float4 v = vload4(i, xt);
        s += dot(v, v);
    }
    scr[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int ng = min(wgs, 16), per = wgs / ng;
    if (lid < ng) {
        float t = 0.f;
        for (int j = 0; j < per; ++j) t += scr[lid * per + j];
        scr[wgs + lid] = t;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float tot = 0.f;
    for (int j = 0; j < ng; ++j) tot += scr[wgs + j];
    const float inv = rsqrt(tot / (float)K + eps);
    barrier(CLK_LOCAL_MEM_FENCE);  // scr reusable
    return inv;
}

// Elements 8w..8w+7 of xt into a, b (times inv and the norm weight with use_norm); zeros and
// false past K.
inline bool qa_load8(__global const float *xt, int use_norm, __global const float *nw, float inv,
                     int w, int K, float4 *a, float4 *b) {
    *a = *b = (float4)(0.f);
    if (w >= K / 8) return false;
    *a = vload4(2 * w, xt);
    *b = vload4(2 * w + 1, xt);
    if (use_norm) {
        *a = *a * inv * vload4(2 * w, nw);
        *b = *b * inv * vload4(2 * w + 1, nw);
    }
    return true;
}

// The RMSNorm (use_norm) and quantization of one token's x (K floats) by a whole work-group
// (1-D or 2-D, flattened ids, a power-of-two size) into __local xql / xdl, the layout quant_act
// writes: the products' prologue, instead of a quant_act launch. scr / am / sv / sq: one value
// per item. Uniform control flow.
inline void qa_prologue(__global const float *xt, int use_norm, __global const float *nw, float eps,
                        int K, __local uint *xql, __local float4 *xdl, __local float *scr,
                        __local float *am, __local float *sv, __local int *sq) {
    const int lid = get_local_id(0) + get_local_id(1) * get_local_size(0);
    const int wgs = get_local_size(0) * get_local_size(1);
    const float inv = use_norm ? qa_inv_rms(xt, K, eps, lid, wgs, scr) : 1.f;
    for (int w0 = 0; w0 < K / 8; w0 += wgs) {
        const int w = w0 + lid;
        float4 a, b;
        const bool ok = qa_load8(xt, use_norm, nw, inv, w, K, &a, &b);
        qa_quant8_l(a, b, ok, lid, w / 4, w % 4, xql, xdl, am, sv, sq);
    }
}
