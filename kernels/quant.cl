// Activation quantization for the int8 decode products (gemv.cl *_i8): every 32-group of a
// token's activations becomes 32 int8 codes q = rint(x / d), d = max|x| / 127, in the layout of
// common.cl (evens of each run of 8 in words 0-3, odds in words 4-7) and a pair (d, d * Σq).
// One work-item per group: eight float4 loads, eight uint stores (two uint4), one float2.
// Grid (ceil(K/32 / 64) * 64, n); x (n, K) from element x_off; xq (n, K/4) uints; xd (n, K/32).
__kernel void quant_i8(__global const float *x, long x_off, int K, __global uint *xq, __global float2 *xd) {
    const int g = get_global_id(0);
    const int t = get_global_id(1);
    const int G = K / 32;
    if (g >= G) return;
    __global const float *p = x + x_off + (long)t * K + g * 32;
    float4 v[8];
    float amax = 0.f;
    for (int j = 0; j < 8; ++j) {
        v[j] = vload4(j, p);
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
    __global uint *o = xq + ((long)t * G + g) * 8;
    vstore4((uint4)(lo[0], lo[1], lo[2], lo[3]), 0, o);
    vstore4((uint4)(hi[0], hi[1], hi[2], hi[3]), 1, o);
    xd[(long)t * G + g] = (float2)(d, d * (float)qs);
}
