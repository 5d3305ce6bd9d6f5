// RoPE and the KV-cache store.
// rope: rotate-half (HF convention) of x (n, n_heads * head_dim) in place: within each head the
//   pairs (i, i + rot_dim/2), i < rot_dim/2, rotate by angle pos * inv_freq[i] with cos and sin
//   scaled by mscale; dimensions from rot_dim on pass through. Grid (rot_dim/2, n_heads, n).
// kv_store: k and v (n, kv_dim) as half into cache rows pos0.. . Grid (kv_dim, n).
__kernel void rope(__global float *x, __global const float *inv_freq, int head_dim, int rot_dim,
                   int n_heads, int pos0, float mscale) {
    const int i = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int half_r = rot_dim / 2;
    if (i >= half_r) return;
    const float ang = (float)(pos0 + t) * inv_freq[i];
    const float c = cos(ang) * mscale, s = sin(ang) * mscale;
    __global float *b = x + ((long)t * n_heads + h) * head_dim;
    const float x0 = b[i], x1 = b[i + half_r];
    b[i] = x0 * c - x1 * s;
    b[i + half_r] = x1 * c + x0 * s;
}

__kernel void kv_store(__global const float *k, __global const float *v, __global half *kc,
                       __global half *vc, int kv_dim, int pos0) {
    const int d = get_global_id(0);
    const int t = get_global_id(1);
    if (d >= kv_dim) return;
    const long src = (long)t * kv_dim + d, dst = (long)(pos0 + t) * kv_dim + d;
    vstore_half(k[src], dst, kc);
    vstore_half(v[src], dst, vc);
}
