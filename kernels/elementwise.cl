// Element-wise ops over float buffers: SwiGLU and the residual add.
__kernel void swiglu(__global float *out, __global const float *gate, __global const float *up,
                     long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    const float g = gate[i];
    out[i] = g / (1.f + exp(-g)) * up[i];
}

__kernel void add_inplace(__global float *y, __global const float *x, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    y[i] += x[i];
}
