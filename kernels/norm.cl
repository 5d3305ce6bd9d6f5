// RMSNorm: out[t, :] = x[x_off + t*dim + :] * rsqrt(mean(x^2) + eps) * w. One work-group of
// NORM_WG items per row, fp32 sum of squares reduced through the work-group. out may be x.
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1))) void rms_norm(
    __global float *out, __global const float *x, long x_off, __global const float *w, int dim, float eps) {
    __local float scratch[NORM_WG];
    const int t = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *xr = x + x_off + (long)t * dim;
    float ss = 0.f;
    for (int i = lid; i < dim; i += NORM_WG) ss += xr[i] * xr[i];
    ss = wg_sum(ss, scratch, NORM_WG);
    const float inv = rsqrt(ss / (float)dim + eps);
    __global float *o = out + (long)t * dim;
    for (int i = lid; i < dim; i += NORM_WG) o[i] = xr[i] * inv * w[i];
}
