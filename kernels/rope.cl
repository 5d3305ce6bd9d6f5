// RoPE (rotate-half, HF convention: pairs (i, i + head_dim/2)) of q and k in place, fused with
// the KV-cache write: k (rotated) and v of each token go to cache row pos0 + t as half.
// Grid (head_dim/2, n_head + n_head_kv, n): heads < n_head are q heads, the rest k/v heads.
__kernel void rope_store_kv(__global float *q, __global float *k, __global const float *v,
                            __global half *kc, __global half *vc, __global const float *inv_freq,
                            int head_dim, int n_head, int n_head_kv, int pos0) {
    const int i = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int half_d = head_dim / 2;
    if (i >= half_d) return;
    const int pos = pos0 + t;
    const float ang = (float)pos * inv_freq[i];
    const float c = cos(ang), s = sin(ang);
    if (h < n_head) {
        __global float *b = q + ((long)t * n_head + h) * head_dim;
        const float x0 = b[i], x1 = b[i + half_d];
        b[i] = x0 * c - x1 * s;
        b[i + half_d] = x1 * c + x0 * s;
    } else {
        const int kh = h - n_head;
        const int kv_dim = n_head_kv * head_dim;
        __global float *b = k + (long)t * kv_dim + kh * head_dim;
        const float x0 = b[i], x1 = b[i + half_d];
        const float r0 = x0 * c - x1 * s, r1 = x1 * c + x0 * s;
        b[i] = r0;
        b[i + half_d] = r1;
        const long dst = (long)pos * kv_dim + kh * head_dim;
        vstore_half(r0, dst + i, kc);
        vstore_half(r1, dst + i + half_d, kc);
        __global const float *vb = v + (long)t * kv_dim + kh * head_dim;
        vstore_half(vb[i], dst + i, vc);
        vstore_half(vb[i + half_d], dst + i + half_d, vc);
    }
}
