// Device peak probes used by edgellm-bench: a float4 copy (memory bandwidth) and an FMA chain
// (fp32 compute). Not used by the engine.
__kernel void bw_copy(__global const float4 *src, __global float4 *dst, long n4) {
    for (long i = get_global_id(0); i < n4; i += get_global_size(0)) dst[i] = src[i];
}

// 8 independent chains of FMA_ITERS x 8 fma per work-item: 2 * 64 * FMA_ITERS flops each.
__kernel void fma_peak(__global float *out, float a, float b, int iters) {
    float x0 = get_global_id(0) * 1e-6f, x1 = x0 + 1.f, x2 = x0 + 2.f, x3 = x0 + 3.f;
    float x4 = x0 + 4.f, x5 = x0 + 5.f, x6 = x0 + 6.f, x7 = x0 + 7.f;
    for (int i = 0; i < iters; ++i) {
        for (int j = 0; j < 8; ++j) {
            x0 = fma(x0, a, b); x1 = fma(x1, a, b); x2 = fma(x2, a, b); x3 = fma(x3, a, b);
            x4 = fma(x4, a, b); x5 = fma(x5, a, b); x6 = fma(x6, a, b); x7 = fma(x7, a, b);
        }
    }
    out[get_global_id(0)] = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
}
