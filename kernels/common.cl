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
