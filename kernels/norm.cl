// RMSNorm: out[t, :] = x[x_off + t*dim + :] * rsqrt(mean(x^2) + eps) * w. One work-group of
// NORM_WG items per row, fp32 sum of squares reduced through the work-group. out may be x.

// rsqrt(mean(xr^2) + eps) of one row, for every item of the work-group (barriers inside).
inline float row_inv_rms(__global const float *xr, int dim, float eps, __local float *scratch) {
    float ss = 0.f;
    for (int i = get_local_id(0); i < dim; i += NORM_WG) ss += xr[i] * xr[i];
    ss = wg_sum(ss, scratch, NORM_WG);
    return rsqrt(ss / (float)dim + eps);
}

__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1))) void rms_norm(
    __global float *out, __global const float *x, long x_off, __global const float *w, int dim, float eps) {
    __local float scratch[NORM_WG];
    const int t = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *xr = x + x_off + (long)t * dim;
    const float inv = row_inv_rms(xr, dim, eps, scratch);
    __global float *o = out + (long)t * dim;
    for (int i = lid; i < dim; i += NORM_WG) o[i] = xr[i] * inv * w[i];
}

// rms_norm_q8: the same, for rows whose dim is a multiple of 32, also writing the output's int8
// form (common.cl quant_group) for the product that reads it next: row t's group g at
// xq + (t * dim/32 + g) * 8, xd[t * dim/32 + g]. Each item takes whole 32-groups.
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1))) void rms_norm_q8(
    __global float *out, __global const float *x, long x_off, __global const float *w, int dim, float eps,
    __global uint *xq, __global float2 *xd) {
    __local float scratch[NORM_WG];
    const int t = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *xr = x + x_off + (long)t * dim;
    const float inv = row_inv_rms(xr, dim, eps, scratch);
    // Items write whole 32-groups that other items read for the sum: with out == x (in place),
    // every read must be done first.
    barrier(CLK_GLOBAL_MEM_FENCE);
    __global float *o = out + (long)t * dim;
    const int G = dim / 32;
    for (int g = lid; g < G; g += NORM_WG) {
        float4 v[8];
        for (int j = 0; j < 8; ++j) {
            v[j] = vload4(g * 8 + j, xr) * inv * vload4(g * 8 + j, w);
            vstore4(v[j], g * 8 + j, o);
        }
        const long gi = (long)t * G + g;
        quant_group(v, xq + gi * 8, xd + gi);
    }
}
