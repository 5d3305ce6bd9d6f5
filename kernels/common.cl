// Types and helpers shared by every kernel file (prepended to each program after the host's
// #defines, which come from the device's tuning row: src/backend/opencl/cl_tuning.cpp).
// Arithmetic is float; half is a storage type (vload_half / vstore_half, core OpenCL) unless a
// kernel says otherwise. Defines read here: USE_SUBGROUPS (0/1), DOT_IMPL (0 plain multiplies,
// 1 cl_khr_integer_dot_product, 2 cl_arm_integer_dot_product_int8).

#if USE_SUBGROUPS && defined(cl_khr_subgroups)
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif

// Sum of `v` over a work-group of `wg` items (a power of two). Every item gets the result.
// scratch holds wg floats. Contains barriers: call from uniform control flow only.
inline float wg_sum(float v, __local float *scratch, int wg) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = wg / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Maximum over the work-group, same contract as wg_sum.
inline float wg_max(float v, __local float *scratch, int wg) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = wg / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Sum of v over each span of `span` consecutive items (a power of two dividing the work-group),
// for every item of the span. With sub-groups whose size divides span, sub_group_reduce_add does
// the work (one sub-group per span on a Mali: no __local, which is ordinary memory there); the
// test is uniform over the work-group. scratch holds get_local_size(0) floats. Barriers: uniform
// control flow only.
inline float span_sum(float v, int span, __local float *scratch) {
    const int lid = get_local_id(0);
#if USE_SUBGROUPS
    const int sg = (int)get_max_sub_group_size();
    if (span % sg == 0 && (int)get_local_size(0) % sg == 0) {
        v = sub_group_reduce_add(v);
        if (sg == span) return v;
        if (get_sub_group_local_id() == 0) scratch[get_sub_group_id()] = v;
        barrier(CLK_LOCAL_MEM_FENCE);
        const int per = span / sg, first = lid / span * per;
        float s = 0.f;
        for (int i = 0; i < per; ++i) s += scratch[first + i];
        barrier(CLK_LOCAL_MEM_FENCE);
        return s;
    }
#endif
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int lane = lid % span;
    for (int s = span / 2; s > 0; s >>= 1) {
        if (lane < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = scratch[lid - lane];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// ---- weight formats (src/model/tensor.h; Q8_0 bytes permuted as below on upload) -------------
// Q4: element k of a row in word k/8 at bits 4*(k%8); a 32-group is one uint4. Masking a word with
// 0x0F0F0F0F leaves its even elements in the four bytes, shifting by 4 first its odd ones.
// Q8_0: each run of 8 bytes is stored evens first (e0 e2 e4 e6 e1 e3 e5 e7), so that a group's
// 32 bytes line up with the int8 activations the same way as Q4's nibbles.
inline int q8_phys(int k) { return (k & ~7) | ((k & 1) ? 4 + ((k & 7) >> 1) : ((k & 7) >> 1)); }

inline float elem_q4(__global const uint *W, __global const half *S, __global const half *M,
                     int has_mins, long row, int k, int K) {
    uint u = W[row * (K / 8) + k / 8];
    float q = (float)((u >> (4 * (k % 8))) & 0xFu);
    long gi = row * (K / 32) + k / 32;
    float d = vload_half(gi, S);
    return has_mins ? d * q + vload_half(gi, M) : d * (q - 8.f);
}
inline float elem_q8(__global const char *W, __global const half *S, long row, int k, int K) {
    return vload_half(row * (K / 32) + k / 32, S) * (float)W[row * K + q8_phys(k)];
}
inline float elem_f16(__global const half *W, long row, int k, int K) { return vload_half(row * K + k, W); }
inline float elem_f32(__global const float *W, long row, int k, int K) { return W[row * K + k]; }

// ---- int8 activations -------------------------------------------------------------------------
// A token's activations quantized per 32-group (quant.cl): 8 words per group, words 0-3 the even
// elements of each run of 8 (x[8j], x[8j+2], x[8j+4], x[8j+6] in word j), words 4-7 the odd ones;
// and per group (d, d * Σq): x ≈ d * q.
#if DOT_IMPL == 1
#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable
inline int dot4(uint a, uint b, int c) { return c + dot_4x8packed_ss_int(a, b); }
#elif DOT_IMPL == 2
#pragma OPENCL EXTENSION cl_arm_integer_dot_product_accumulate_int8 : enable
inline int dot4(uint a, uint b, int c) { return arm_dot_acc(as_char4(a), as_char4(b), c); }
#else
inline int dot4(uint a, uint b, int c) {
    const int4 p = convert_int4(as_char4(a)) * convert_int4(as_char4(b));
    return c + p.x + p.y + p.z + p.w;
}
#endif

// Σ q_w q_x over one Q4 group (nibbles 0..15 as signed bytes: the signed dot products are exact).
inline int q4_dot_i8(uint4 w, uint4 xl, uint4 xh) {
    const uint m = 0x0F0F0F0Fu;
    int s = dot4(w.s0 & m, xl.s0, 0);
    s = dot4((w.s0 >> 4) & m, xh.s0, s);
    s = dot4(w.s1 & m, xl.s1, s);
    s = dot4((w.s1 >> 4) & m, xh.s1, s);
    s = dot4(w.s2 & m, xl.s2, s);
    s = dot4((w.s2 >> 4) & m, xh.s2, s);
    s = dot4(w.s3 & m, xl.s3, s);
    return dot4((w.s3 >> 4) & m, xh.s3, s);
}
// Σ q_w q_x over one Q8_0 group (a = words 0-3 of the group's permuted bytes, b = words 4-7).
inline int q8_dot_i8(uint4 a, uint4 b, uint4 xl, uint4 xh) {
    int s = dot4(a.s0, xl.s0, 0);
    s = dot4(a.s1, xh.s0, s);
    s = dot4(a.s2, xl.s1, s);
    s = dot4(a.s3, xh.s1, s);
    s = dot4(b.s0, xl.s2, s);
    s = dot4(b.s1, xh.s2, s);
    s = dot4(b.s2, xl.s3, s);
    return dot4(b.s3, xh.s3, s);
}

// Quantizes one 32-group v[0..8) (elements 4j..4j+3 in v[j]) into the layout above: 8 words at
// xq (evens of each run of 8 in words 0-3, odds in 4-7) and (d, d * Σq) at *xd, with
// d = max|v| / 127 and q = round-half-even(v * 127 / max|v|). Every producer of int8 activations
// (quant.cl, the fused norm, GLU and attention-reduce kernels) calls this one function.
inline void quant_group(const float4 *v, __global uint *xq, __global float2 *xd) {
    float amax = 0.f;
    for (int j = 0; j < 8; ++j) {
        const float4 a = fabs(v[j]);
        amax = fmax(amax, fmax(fmax(a.x, a.y), fmax(a.z, a.w)));
    }
    const float d = amax / 127.f;
    const float id = amax > 0.f ? 127.f / amax : 0.f;
    uint lo[4], hi[4];
    int qs = 0;
    for (int j = 0; j < 4; ++j) {
        // run j: elements 8j..8j+7 = v[2j] (0..3) and v[2j+1] (4..7)
        const int4 a = convert_int4_rte(v[2 * j] * id), b = convert_int4_rte(v[2 * j + 1] * id);
        qs += a.x + a.y + a.z + a.w + b.x + b.y + b.z + b.w;
        lo[j] = as_uint((char4)((char)a.x, (char)a.z, (char)b.x, (char)b.z));
        hi[j] = as_uint((char4)((char)a.y, (char)a.w, (char)b.y, (char)b.w));
    }
    vstore4((uint4)(lo[0], lo[1], lo[2], lo[3]), 0, xq);
    vstore4((uint4)(hi[0], hi[1], hi[2], hi[3]), 1, xq);
    *xd = (float2)(d, d * (float)qs);
}
