// Activation quantization for the int8 decode products (gemv.cl gemv_q4 / gemv_q8): every
// 32-group of x becomes int8 codes and (d, d * Σq) (common.cl quant_group). One work-item per
// group: eight float4 loads, two uint4 stores, one float2. The norm, GLU and attention-reduce
// kernels quantize their own output the same way where a product reads it next, so this launch
// runs only for other inputs. Grid (ceil(K/32 / 64) * 64, n); x (n, K) from element x_off;
// xq (n, K/4) uints; xd (n, K/32).
__kernel void quant_i8(__global const float *x, long x_off, int K, __global uint *xq, __global float2 *xd) {
    const int g = get_global_id(0);
    const int t = get_global_id(1);
    const int G = K / 32;
    if (g >= G) return;
    __global const float *p = x + x_off + (long)t * K + g * 32;
    float4 v[8];
    for (int j = 0; j < 8; ++j) v[j] = vload4(j, p);
    const long gi = (long)t * G + g;
    quant_group(v, xq + gi * 8, xd + gi);
}
