// Element-wise ops over float buffers: the gated activations, the residual add, biases, the
// logit soft-cap and scaling. Grids: (n) rounded up; add_bias (dim, n).
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

__kernel void scale(__global float *x, long off, long n, float s) {
    const long i = get_global_id(0);
    if (i >= n) return;
    x[off + i] *= s;
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
