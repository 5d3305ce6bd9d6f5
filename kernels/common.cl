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

// ---- int8 activations (qa.cl quant_act / gmq_*, attention.cl attn_dec / attn_reduce_q) ----
// Quantizes 8 consecutive values (a, b) per item into word pair j of 32-group g: xq_t[g*8 + j]
// (elements 0, 2, 4, 6 as int8) and [g*8 + 4 + j] (1, 3, 5, 7); the item with j == 0 writes
// xd_t[g] = (d, Σv, Σq, 0). The four items of a group are local ids 4i..4i+3 (lid & ~3), which
// combine max and sums through am / sv / sq (one float / int per item). Uniform control flow;
// items with ok == 0 take part in the barriers only. qa_quant8: global destination, qa_quant8_l:
// __local.
// qa_max8 / qa_sum8: an item's max |v| and Σv over its 8 values; qa_codes8: their int8 codes for
// the group's max amax (lo: elements 0, 2, 4, 6, hi: 1, 3, 5, 7) and their sum *qs; returns d.
inline float qa_max8(float4 a, float4 b) {
    const float4 fa = fmax(fabs(a), fabs(b));
    return fmax(fmax(fa.x, fa.y), fmax(fa.z, fa.w));
}
inline float qa_sum8(float4 a, float4 b) {
    const float4 s4 = a + b;
    return (s4.x + s4.y) + (s4.z + s4.w);
}
inline float qa_codes8(float4 a, float4 b, float amax, char4 *lo, char4 *hi, int *qs) {
    const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
    *lo = convert_char4_sat_rte((float4)(a.x, a.z, b.x, b.z) * id);
    *hi = convert_char4_sat_rte((float4)(a.y, a.w, b.y, b.w) * id);
    const int4 q4 = convert_int4(*lo) + convert_int4(*hi);
    *qs = q4.x + q4.y + q4.z + q4.w;
    return d;
}
#if QA_SHFL  // NVIDIA (DOT_IMPL 3): the four items of a group are four lanes of one warp
inline float shfl_xor_f(float v, int m) {
    float r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(m));
    return r;
}
inline int shfl_xor_i(int v, int m) {
    int r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=r"(r) : "r"(v), "r"(m));
    return r;
}
// The same values as below, combined by butterfly shuffles (every lane of the warp takes part:
// uniform control flow). One barrier, after the stores, keeps the contract that the group's
// outputs are in place on return; am / sv / sq are unused.
#define QA_QUANT8(NAME, AS)                                                                        \
inline void NAME(float4 a, float4 b, bool ok, int lid, int g, int j, AS uint *xq_t, AS float4 *xd_t, \
                 __local float *am, __local float *sv, __local int *sq) {                          \
    if (!ok) a = b = (float4)(0.f);                                                                \
    float amax = qa_max8(a, b);                                                                    \
    const float sm = qa_sum8(a, b);                                                                \
    amax = fmax(amax, shfl_xor_f(amax, 1));                                                        \
    amax = fmax(amax, shfl_xor_f(amax, 2));                                                        \
    char4 lo, hi;                                                                                  \
    int qs;                                                                                        \
    const float d = qa_codes8(a, b, amax, &lo, &hi, &qs);                                          \
    const float s1 = shfl_xor_f(sm, 1);                                                            \
    const int q1 = shfl_xor_i(qs, 1);                                                              \
    /* (v0 + v1) + (v2 + v3) as below: lanes 0 / 1 of the pair order the pair sum the same way */ \
    const float p = (lid & 1) ? s1 + sm : sm + s1;                                                 \
    const float p2 = shfl_xor_f(p, 2);                                                             \
    qs += q1;                                                                                      \
    qs += shfl_xor_i(qs, 2);                                                                       \
    if (ok) {                                                                                      \
        xq_t[g * 8 + j] = as_uint(lo);                                                             \
        xq_t[g * 8 + 4 + j] = as_uint(hi);                                                         \
        if (j == 0) xd_t[g] = (float4)(d, p + p2, (float)qs, 0.f);                                 \
    }                                                                                              \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                  \
}
#else
#define QA_QUANT8(NAME, AS)                                                                        \
inline void NAME(float4 a, float4 b, bool ok, int lid, int g, int j, AS uint *xq_t, AS float4 *xd_t, \
                 __local float *am, __local float *sv, __local int *sq) {                          \
    if (!ok) a = b = (float4)(0.f);                                                                \
    am[lid] = qa_max8(a, b);                                                                       \
    sv[lid] = qa_sum8(a, b);                                                                       \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                  \
    const int l0 = lid & ~3;                                                                       \
    const float amax = fmax(fmax(am[l0], am[l0 + 1]), fmax(am[l0 + 2], am[l0 + 3]));               \
    char4 lo, hi;                                                                                  \
    int qs;                                                                                        \
    const float d = qa_codes8(a, b, amax, &lo, &hi, &qs);                                          \
    sq[lid] = qs;                                                                                  \
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
#endif
QA_QUANT8(qa_quant8, __global)
QA_QUANT8(qa_quant8_l, __local)

// 1 / RMS of one token's x (K floats, K % 4 == 0) with eps, summed by a whole work-group (1-D or
// 2-D: flattened id lid of wgs items, a power of two) through scr (QA_SCR(wgs) floats): the
// items' partial sums, then 16 sums of wgs / 16 of them, then every item adds the 16 (three
// barriers, not a log2(wgs)-deep tree). Uniform control flow.
// qa_load8: elements 8w..8w+7 of xt into a, b (times inv and the norm weight with use_norm); zeros
// and false past K.
// qa_prologue: the RMSNorm (use_norm) and quantization of one token's x (K floats) by a whole
// work-group (1-D or 2-D, flattened ids, a power-of-two size) into __local xql / xdl, the layout
// quant_act writes: the products' prologue, instead of a quant_act launch. scr / am / sv / sq: one
// value per item. Uniform control flow.
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
inline bool qa_load8(__global const float *xt, int use_norm, __global const float *nw, float inv, int w,
                     int K, float4 *a, float4 *b) {
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
inline void qa_prologue(__global const float *xt, int use_norm, __global const float *nw, float eps, int K,
                        __local uint *xql, __local float4 *xdl, __local float *scr, __local float *am,
                        __local float *sv, __local int *sq) {
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

// ---- Data that crosses work-groups within one launch (attention.cl attn_dec's fused combine,
// qa.cl layer_tail_q4) ----
// OpenCL 1.2 orders nothing between work-groups but atomics: by default such data goes through
// atomics both ways (FUSE_ATOMICS). NVIDIA (DOT_IMPL 3, the PTX build): writers store plainly and
// publish their work with a release (the atomic of xg_publish_u / xg_ticket_u below; before sm_70
// a membar.gl, GLOBAL_RELEASE, then the atomic); readers, after the acquiring atomic or poll, load
// from L2 (ld.global.cg: L1 is not coherent across SMs), the CUDA threadfence-reduction pattern.
#if DOT_IMPL == 3
#define FUSE_ATOMICS 0
#define GLOBAL_RELEASE() asm volatile("membar.gl;" ::: "memory")
inline float4 load_cg4(__global const float *p) {
    float4 r;
    asm volatile("ld.global.cg.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(r.x), "=f"(r.y), "=f"(r.z), "=f"(r.w) : "l"(p));
    return r;
}
inline float2 load_cg2(__global const float *p) {
    float2 r;
    asm volatile("ld.global.cg.v2.f32 {%0, %1}, [%2];" : "=f"(r.x), "=f"(r.y) : "l"(p));
    return r;
}
inline uint4 xg_load_u4(__global const uint *p) { return as_uint4(load_cg4((__global const float *)p)); }
inline float xg_load(__global const float *p) {
    float r;
    asm volatile("ld.global.cg.f32 %0, [%1];" : "=f"(r) : "l"(p));
    return r;
}
// A counter other work-groups are still changing, for polling: a strong (volatile) load. A weak
// load (ld.global.cg) does not synchronize in PTX's memory model: polled with one, the fused layer
// tail read stale inputs on an H200 (199 of 288 test assertions failed).
inline uint xg_load_u(__global const uint *p) {
    uint r;
    asm volatile("ld.volatile.global.u32 %0, [%1];" : "=r"(r) : "l"(p) : "memory");
    return r;
}
inline float4 xg_load4(__global const float *p) { return load_cg4(p); }
inline void xg_store(__global float *p, float v) { *p = v; }
inline void xg_store_u(__global uint *p, uint v) { *p = v; }
inline void xg_store4(__global float *p, float4 v) { vstore4(v, 0, p); }
#else
#define FUSE_ATOMICS 1
#define GLOBAL_RELEASE() mem_fence(CLK_GLOBAL_MEM_FENCE)
inline float xg_load(__global const float *p) { return as_float(atomic_or((__global int *)p, 0)); }
inline float4 xg_load4(__global const float *p) {
    return (float4)(xg_load(p), xg_load(p + 1), xg_load(p + 2), xg_load(p + 3));
}
inline uint xg_load_u(__global const uint *p) { return atomic_or((__global uint *)p, 0u); }
inline uint4 xg_load_u4(__global const uint *p) {
    __global uint *q = (__global uint *)p;
    return (uint4)(atomic_or(q, 0u), atomic_or(q + 1, 0u), atomic_or(q + 2, 0u), atomic_or(q + 3, 0u));
}
inline void xg_store(__global float *p, float v) { atomic_xchg(p, v); }
inline void xg_store_u(__global uint *p, uint v) { atomic_xchg(p, v); }
inline void xg_store4(__global float *p, float4 v) {
    atomic_xchg(p, v.x);
    atomic_xchg(p + 1, v.y);
    atomic_xchg(p + 2, v.z);
    atomic_xchg(p + 3, v.w);
}
#endif
// A work-group's count published after its stores (xg_publish_u: returns the previous count), a
// counter polled until others' counts are in (xg_poll_u, then XG_ACQUIRED before reading their
// data), and a ticket whose last taker reads the others' data (xg_ticket_u, then XG_ACQUIRED).
// One item calls them after a work-group barrier; XG_RELEASE_ITEMS is every item's own fence
// before that barrier where a kernel wants one. NVIDIA sm_70 and later (XG_ACQREL): release /
// acquire atomics and acquire loads, no separate fences (fence + atomic and volatile polling +
// fence: 1-2 % slower decode on the H200); elsewhere fences around the atomics and the polling
// load above.
#if DOT_IMPL == 3 && XG_ACQREL
inline uint xg_publish_u(__global uint *p) {
    uint r;
    asm volatile("atom.release.gpu.global.add.u32 %0, [%1], 1;" : "=r"(r) : "l"(p) : "memory");
    return r;
}
inline uint xg_poll_u(__global const uint *p) {
    uint r;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(r) : "l"(p) : "memory");
    return r;
}
// A ticket: the count before this work-group's (acquire and release: the last one reads the
// others' data).
inline uint xg_ticket_u(__global uint *p) {
    uint r;
    asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;" : "=r"(r) : "l"(p) : "memory");
    return r;
}
#define XG_ACQUIRED()
#define XG_RELEASE_ITEMS()
#else
inline uint xg_publish_u(__global uint *p) {
    GLOBAL_RELEASE();
    return atomic_inc(p);
}
inline uint xg_ticket_u(__global uint *p) { return xg_publish_u(p); }
inline uint xg_poll_u(__global const uint *p) { return xg_load_u(p); }
#define XG_ACQUIRED() GLOBAL_RELEASE()
#define XG_RELEASE_ITEMS() GLOBAL_RELEASE()
#endif
// A 128-byte line into L2 without holding a register (the layer tail's K / V prefetch, TAIL_KVPF:
// 1 plain, 2 with evict_last priority, sm_80 and later). NVIDIA only.
#if DOT_IMPL == 3 && TAIL_KVPF == 1
inline void l2_prefetch(__global const half *p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }
#elif DOT_IMPL == 3 && TAIL_KVPF == 2
inline void l2_prefetch(__global const half *p) { asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(p)); }
#endif

// ---- Decode attention helpers (attention.cl attn_dec, qa.cl tail_attn) ----
// Adds a softmax partial (max mc, sum lc) to a running one (M, L): the caller then scales its
// running output by *fa and the partial's by *fb. False (nothing to add) for an empty partial.
inline bool online_step(float *M, float *L, float mc, float lc, float *fa, float *fb) {
    if (mc == -INFINITY) return false;
    const float Mn = fmax(*M, mc);
    *fa = exp(*M - Mn);
    *fb = exp(mc - Mn);
    *L = *L * *fa + lc * *fb;
    *M = Mn;
    return true;
}

// sin and cos of a (radians): Cody-Waite reduction by π/2 (a three-part constant, fma), Cephes'
// sinf / cosf polynomials on [-π/4, π/4], then the quadrant. Error ~1e-7 for |a| < 8192; beyond,
// the float rounding of a (pos * f) itself dominates. Built-in sin / cos carry a slow path for huge
// arguments that needs many registers: in the fused layer tail (qa.cl tail_attn) they alone took
// the kernel from 80 to 127 registers on NVIDIA, halving its work-groups per SM.
inline void rope_sincos4(float4 a, float4 *sn, float4 *cs) {
    const float4 k = rint(a * 0.636619772367581f);
    float4 r = fma(-k, (float4)(1.5703125f), a);
    r = fma(-k, (float4)(4.837512969970703125e-4f), r);
    r = fma(-k, (float4)(7.549789954891882e-8f), r);
    const float4 r2 = r * r;
    const float4 s = fma(fma(fma((float4)(-1.9515295891e-4f), r2, (float4)(8.3321608736e-3f)), r2,
                             (float4)(-1.6666654611e-1f)), r2 * r, r);
    const float4 c = fma(fma(fma((float4)(2.443315711809948e-5f), r2, (float4)(-1.388731625493765e-3f)), r2,
                             (float4)(4.166664568298827e-2f)), r2 * r2, fma((float4)(-0.5f), r2, (float4)(1.f)));
    const int4 q = convert_int4(k);
    const int4 sw = (q & 1) != 0;
    const float4 s1 = select(s, c, sw), c1 = select(c, s, sw);
    *sn = select(s1, -s1, (q & 2) != 0);
    *cs = select(c1, -c1, ((q + 1) & 2) != 0);
}
// Rotate-half RoPE (HF convention) of 4 consecutive elements d..d+3 of a head, x: their values,
// y: the partner elements d ± head_dim / 2 (all four on one side: head_dim % 8 == 0), lo: d is in
// the first half; angles pos * f (f: the frequencies of d % (head_dim / 2) ..).
inline float4 rope4(float4 x, float4 y, bool lo, float pos, float4 f) {
    float4 s, c;
    rope_sincos4(pos * f, &s, &c);
    return lo ? x * c - y * s : x * c + y * s;
}

// Phases of attn_dec's plan (attention.cl attn_dec, qa.cl tail_attn) for one chunk of len
// positions, run by a work-group of wg items (lid):
// attn_stage_kv: the chunk's K rows (transposed: [4-dim piece][position]) and V rows ([position]
//   [dim]) at kvo (the chunk's first row, this kv head) into __local ks / vs as half, 8 halfs per
//   load (head_dim % 8 == 0); row `skip` (the new position, -1: none) is left to the caller.
// attn_new_kv: that row from the token's k / v (kf / vf: one kv head's head_dim floats, read
//   through xg_*): k rotated for position pos, both staged at row jn as half, and with `writer`
//   also stored into the cache rows kc / vc (rounded to half like the staging).
// attn_scores: sc[h * stride + j] = qs[h] · K[j] (queries already scaled) for nh heads, positions
//   fastest (ks reads conflict-free, qs broadcast), then a barrier.
// attn_softmax: the softmax numerators in place, wg / ATTN_QB items per head; each item reads its
//   head's partial maxima / sums back from red / red2 (wg floats each; one barrier per quantity,
//   no tree); ml[2h] = the head's max, ml[2h + 1] = its sum, for reading after a later barrier.
#define ATTN_STAGE_KV(NAME, SB)                                                                     \
inline void NAME(__global const half *kc, __global const half *vc, long kvo, int kv_dim, int len,   \
                 int head_dim, int chunk, int skip, __local half *ks, __local half *vs, int lid,    \
                 int wg) {                                                                          \
    const int pieces = head_dim / 8, n = len * pieces;                                              \
    /* SB pieces per item in flight (raw 16-byte copies: no conversion), their loads issued */      \
    /* before any store: one memory round trip per SB pieces, not per piece. */                     \
    for (int i0 = lid; i0 < n; i0 += SB * wg) {                                                     \
        uint4 kp[SB], vp[SB];                                                                       \
        for (int u = 0; u < SB; ++u) {                                                              \
            const int i = i0 + u * wg, j = i / pieces, pc = i % pieces;                             \
            kp[u] = vp[u] = (uint4)(0u);                                                            \
            if (i < n && j != skip) {  /* (row skip: this launch writes it) */                      \
                kp[u] = *(__global const uint4 *)(kc + kvo + (long)j * kv_dim + 8 * pc);            \
                vp[u] = *(__global const uint4 *)(vc + kvo + (long)j * kv_dim + 8 * pc);            \
            }                                                                                       \
        }                                                                                           \
        for (int u = 0; u < SB; ++u) {                                                              \
            const int i = i0 + u * wg, j = i / pieces, pc = i % pieces;                             \
            if (i >= n || j == skip) continue;                                                      \
            ((__local uint2 *)ks)[2 * pc * chunk + j] = kp[u].xy;                                   \
            ((__local uint2 *)ks)[(2 * pc + 1) * chunk + j] = kp[u].zw;                             \
            *(__local uint4 *)(vs + j * head_dim + 8 * pc) = vp[u];                                 \
        }                                                                                           \
    }                                                                                               \
}
// attn_dec: ATTN_SB pieces in flight; layer_tail_q4's attention stage TAIL_SB (its registers are
// the whole launch's: more than 64 halve the work-groups per SM on an H200).
ATTN_STAGE_KV(attn_stage_kv, ATTN_SB)
ATTN_STAGE_KV(tail_stage_kv, TAIL_SB)
inline void attn_new_kv(__global const float *kf, __global const float *vf, __global half *kc, __global half *vc,
                        bool writer, int jn, int pos, __global const float *inv_freq, int head_dim, int chunk,
                        __local half *ks, __local half *vs, int lid, int wg) {
    const int hd2 = head_dim / 2;
    for (int l = lid; l < head_dim / 4; l += wg) {
        const int d = 4 * l;
        const float4 r = rope4(xg_load4(kf + d), xg_load4(kf + (d < hd2 ? d + hd2 : d - hd2)), d < hd2, (float)pos,
                               vload4(0, inv_freq + d % hd2));
        const float4 v = xg_load4(vf + d);
        vstore_half4(r, l * chunk + jn, ks);
        vstore_half4(v, 0, vs + jn * head_dim + d);
        if (writer) {
            vstore_half4(r, 0, kc + d);
            vstore_half4(v, 0, vc + d);
        }
    }
}
inline void attn_scores(__local const float *qs, __local const half *ks, __local float *sc, int stride, int nh,
                        int len, int head_dim, int chunk, int lid, int wg) {
    const int lanes = head_dim / 4;
    for (int i = lid; i < nh * len; i += wg) {
        const int h = i / len, j = i % len;
        __local const float *qh = qs + h * head_dim;
        float s0 = 0.f, s1 = 0.f;
        for (int l = 0; l < lanes; l += 2) {
            s0 += dot(vload_half4(l * chunk + j, ks), vload4(l, qh));
            s1 += dot(vload_half4((l + 1) * chunk + j, ks), vload4(l + 1, qh));
        }
        sc[h * stride + j] = s0 + s1;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
inline void attn_softmax(__local float *sc, int stride, int nh, int len, __local float *red, __local float *red2,
                         __local float *ml, int lid, int wg) {
    const int TPH = wg / ATTN_QB, hh = lid / TPH, r = lid % TPH;
    float m = -INFINITY;
    if (hh < nh)
        for (int j = r; j < len; j += TPH) m = fmax(m, sc[hh * stride + j]);
    red[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int e = 0; e < TPH; ++e) m = fmax(m, red[hh * TPH + e]);
    float l = 0.f;
    if (hh < nh)
        for (int j = r; j < len; j += TPH) {
            const float e = exp(sc[hh * stride + j] - m);
            sc[hh * stride + j] = e;
            l += e;
        }
    red2[lid] = l;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (r == 0 && hh < nh) {
        float L = 0.f;
        for (int e = 0; e < TPH; ++e) L += red2[lid + e];
        ml[2 * hh] = m;
        ml[2 * hh + 1] = L;
    }
}

// ---- Group-major products (gemv.cl gm_*, qa.cl gmq_*) ----
// The loads of one step of a gm product, all issued before any math: for GM_UNROLL groups from
// g0 and the item's rows rr[], the packed blocks (type LT), scales and mins of A, and of B with
// `two`, into wa / da / ma (wb / db / mb), index u * GM_ROWS + i. Expands inside the gm_acc_* and
// gmq_acc* loops (names G, rows, WA.., SA.., MA.., hma, hmb from there).
#define GM_LOAD_STEP(LT)                                                                           \
    LT wa[GM_UNROLL * GM_ROWS], wb[GM_UNROLL * GM_ROWS];                                           \
    float da[GM_UNROLL * GM_ROWS], ma[GM_UNROLL * GM_ROWS];                                        \
    float db[GM_UNROLL * GM_ROWS], mb[GM_UNROLL * GM_ROWS];                                        \
    for (int u = 0; u < GM_UNROLL; ++u) {                                                          \
        const long gb = (long)min(g0 + u, G - 1) * rows;                                           \
        for (int i = 0; i < GM_ROWS; ++i) {                                                        \
            const long gi = gb + rr[i];                                                            \
            const int k = u * GM_ROWS + i;                                                         \
            wa[k] = WA[gi];                                                                        \
            da[k] = vload_half(gi, SA);                                                            \
            ma[k] = hma ? vload_half(gi, MA) : 0.f;                                                \
            if (two) {                                                                             \
                wb[k] = WB[gi];                                                                    \
                db[k] = vload_half(gi, SB);                                                        \
                mb[k] = hmb ? vload_half(gi, MB) : 0.f;                                            \
            }                                                                                      \
        }                                                                                          \
    }

// Adds the NS slice partials of each row (acc, bcc: GM_ROWS rows of two products; ss: Σx² per
// slice) through red (GM_RED floats); afterwards every item holds its rows' totals.
// Uniform control flow only.
#define GM_RED ((2 * GM_ROWS + 1) * GM_WG)
inline void gm_reduce(float *acc, float *bcc, float *ss, __local float *red) {
    const int R = get_local_size(0), ns = get_local_size(1);
    const int lr = get_local_id(0), s = get_local_id(1);
    if (ns == 1) return;
    const int n = R * ns;
    for (int i = 0; i < GM_ROWS; ++i) {
        red[(2 * i) * n + s * R + lr] = acc[i];
        red[(2 * i + 1) * n + s * R + lr] = bcc[i];
    }
    if (lr == 0) red[2 * GM_ROWS * n + s] = *ss;
    barrier(CLK_LOCAL_MEM_FENCE);
    float ts = 0.f;
    for (int j = 0; j < ns; ++j) ts += red[2 * GM_ROWS * n + j];
    *ss = ts;
    for (int i = 0; i < GM_ROWS; ++i) {
        float ta = 0.f, tb = 0.f;
        for (int j = 0; j < ns; ++j) {
            ta += red[(2 * i) * n + j * R + lr];
            tb += red[(2 * i + 1) * n + j * R + lr];
        }
        acc[i] = ta;
        bcc[i] = tb;
    }
}
