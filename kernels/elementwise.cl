// Element-wise ops over float buffers: the gated activations, the residual add, biases and the
// logit soft-cap. Grids: (n) rounded up; add_bias (dim, n).
__kernel void glu_silu(__global float *out, __global const float *gate, __global const float *up, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    const float g = gate[i];
    out[i] = g / (1.f + exp(-g)) * up[i];
}

// transformers' gelu_pytorch_tanh: 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
__kernel void glu_gelu_tanh(__global float *out, __global const float *gate, __global const float *up, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    const float g = gate[i];
    out[i] = 0.5f * g * (1.f + tanh(0.7978845608028654f * (g + 0.044715f * g * g * g))) * up[i];
}

// glu_silu_q8 / glu_gelu_tanh_q8: the same over n = 32 * groups elements, one item per 32-group,
// also writing the output's int8 form (common.cl quant_group) for the down product. Grid (groups).
#define GLU_Q8(NAME, ACT)                                                                          \
    __kernel void NAME(__global float *out, __global const float *gate, __global const float *up, \
                       long groups, __global uint *xq, __global float2 *xd) {                     \
        const long g = get_global_id(0);                                                           \
        if (g >= groups) return;                                                                   \
        float4 v[8];                                                                               \
        for (int j = 0; j < 8; ++j) {                                                              \
            const float4 a = vload4(g * 8 + j, gate);                                              \
            v[j] = ACT(a) * vload4(g * 8 + j, up);                                                 \
            vstore4(v[j], g * 8 + j, out);                                                         \
        }                                                                                          \
        quant_group(v, xq + g * 8, xd + g);                                                        \
    }
#define SILU4(a) ((a) / (1.f + exp(-(a))))
#define GELU_TANH4(a) (0.5f * (a) * (1.f + tanh(0.7978845608028654f * ((a) + 0.044715f * (a) * (a) * (a)))))
GLU_Q8(glu_silu_q8, SILU4)
GLU_Q8(glu_gelu_tanh_q8, GELU_TANH4)

__kernel void add_inplace(__global float *y, __global const float *x, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    y[i] += x[i];
}

__kernel void add_bias(__global float *y, __global const float *b, int dim) {
    const int j = get_global_id(0);
    const int t = get_global_id(1);
    if (j >= dim) return;
    y[(long)t * dim + j] += b[j];
}

__kernel void softcap(__global float *x, long n, float cap) {
    const long i = get_global_id(0);
    if (i >= n) return;
    x[i] = cap * tanh(x[i] / cap);
}

// Prefill HGEMM helpers. to_half: out[t * K + k] = x[x_off + t * K + k] as half, for the K-slice
// [k0, k0 + kn) only (out (n, kn)). Grid (kn, n).
__kernel void to_half(__global const float *x, long x_off, int K, int k0, int kn, __global half *out) {
    const int k = get_global_id(0);
    const int t = get_global_id(1);
    if (k >= kn) return;
    vstore_half(x[x_off + (long)t * K + k0 + k], (long)t * kn + k, out);
}

// y[y_off + t * ldy + r] (+)= yh[t * nr + r]: a HGEMM slice's half result summed in float.
// Grid (nr, n).
__kernel void add_half(__global float *y, long y_off, int ldy, __global const half *yh, int nr, int accumulate) {
    const int r = get_global_id(0);
    const int t = get_global_id(1);
    if (r >= nr) return;
    const float v = vload_half((long)t * nr + r, yh);
    __global float *o = y + y_off + (long)t * ldy + r;
    *o = accumulate ? *o + v : v;
}
