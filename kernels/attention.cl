// Causal attention over the half KV cache, split over the context (flash-decoding):
// attn_partial: work-group (chunk c, head h, token t) scores the positions of [c*chunk, +chunk)
//   that query token t (position p = pos0 + t) sees — (p - window, p], or [0, p] without a
//   window — against kv head h / (n_head / n_head_kv) (scores soft-capped when softcap > 0), keeps the
//   softmax numerators in __local, and writes either the normalised output (one chunk: direct)
//   or an fp32 partial (max m, sum l, unnormalised o[head_dim]) for attn_reduce.
// attn_reduce: combines the chunks of each (token, head): o = Σ e^(m_c - M) o_c / Σ e^(m_c - M) l_c.
// Grid of attn_partial: (n_chunks * ATTN_WG, n_head, nt); of attn_reduce: (head_dim, n_head, nt),
// for query tokens t0..t0+nt-1 (partials indexed by t - t0).

__kernel __attribute__((reqd_work_group_size(ATTN_WG, 1, 1))) void attn_partial(
    __global const float *q, __global const half *kc, __global const half *vc,
    __global float *out, __global float *part_o, __global float *part_ml, int n_head,
    int n_head_kv, int head_dim, float scale, int pos0, int t0, int chunk, int n_chunks, int direct,
    float softcap, int window) {
    __local float qs[HEAD_DIM_MAX];
    __local float sc[ATTN_MAX_CHUNK];
    __local float scratch[ATTN_WG];
    const int lid = get_local_id(0);
    const int c = get_group_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int n_ctx_q = pos0 + t0 + t + 1;  // causal: positions 0..pos0+t0+t
    const int first = window > 0 ? max(0, n_ctx_q - window) : 0;
    const int start = max(c * chunk, first);
    const int end = min(c * chunk + chunk, n_ctx_q);
    const int kvh = h / (n_head / n_head_kv);
    const int kv_dim = n_head_kv * head_dim;
    const long pidx = ((long)t * n_head + h) * n_chunks + c;
    if (start >= end) {  // uniform per work-group: this chunk lies beyond the token's position
        for (int d = lid; d < head_dim; d += ATTN_WG) part_o[pidx * head_dim + d] = 0.f;
        if (lid == 0) {
            part_ml[2 * pidx] = -INFINITY;
            part_ml[2 * pidx + 1] = 0.f;
        }
        return;
    }
    __global const float *qh = q + ((long)(t0 + t) * n_head + h) * head_dim;
    for (int d = lid; d < head_dim; d += ATTN_WG) qs[d] = qh[d] * scale;
    barrier(CLK_LOCAL_MEM_FENCE);

    float m = -INFINITY;
    for (int j = start + lid; j < end; j += ATTN_WG) {
        __global const half *kr = kc + (long)j * kv_dim + kvh * head_dim;
        float s = 0.f;
        for (int d = 0; d < head_dim; d += 4) s += dot(vload_half4(0, kr + d), vload4(0, qs + d));
        if (softcap > 0.f) s = softcap * tanh(s / softcap);
        sc[j - start] = s;
        m = fmax(m, s);
    }
    m = wg_max(m, scratch, ATTN_WG);
    float l = 0.f;
    for (int j = start + lid; j < end; j += ATTN_WG) {
        const float p = exp(sc[j - start] - m);
        sc[j - start] = p;
        l += p;
    }
    l = wg_sum(l, scratch, ATTN_WG);  // its barriers also publish sc[] to the work-group

    for (int d = lid; d < head_dim; d += ATTN_WG) {
        __global const half *vcol = vc + (long)start * kv_dim + kvh * head_dim + d;
        float o = 0.f;
        for (int j = 0; j < end - start; ++j) o += sc[j] * vload_half((long)j * kv_dim, vcol);
        if (direct) out[((long)(t0 + t) * n_head + h) * head_dim + d] = o / l;
        else part_o[pidx * head_dim + d] = o;
    }
    if (!direct && lid == 0) {
        part_ml[2 * pidx] = m;
        part_ml[2 * pidx + 1] = l;
    }
}

__kernel void attn_reduce(__global float *out, __global const float *part_o,
                          __global const float *part_ml, int n_head, int head_dim, int n_chunks, int t0) {
    const int d = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    if (d >= head_dim) return;
    const long base = ((long)t * n_head + h) * n_chunks;
    float M = -INFINITY;
    for (int c = 0; c < n_chunks; ++c) M = fmax(M, part_ml[2 * (base + c)]);
    float L = 0.f, o = 0.f;
    for (int c = 0; c < n_chunks; ++c) {
        const float mc = part_ml[2 * (base + c)];
        if (mc == -INFINITY) continue;
        const float w = exp(mc - M);
        L += w * part_ml[2 * (base + c) + 1];
        o += w * part_o[(base + c) * head_dim + d];
    }
    out[((long)(t0 + t) * n_head + h) * head_dim + d] = o / L;
}


// attn_reduce_q8: attn_reduce for head_dim % 32 == 0, one item per 32 dimensions of a (token,
// head), also writing the output's int8 form (common.cl quant_group) for the Wo product: token
// t0 + t's group (h * head_dim + 32 gd) / 32 of G = n_head * head_dim / 32.
// Grid (head_dim / 32, n_head, nt).
__kernel void attn_reduce_q8(__global float *out, __global const float *part_o, __global const float *part_ml,
                             int n_head, int head_dim, int n_chunks, int t0, __global uint *xq, __global float2 *xd) {
    const int gd = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    if (gd >= head_dim / 32) return;
    const long base = ((long)t * n_head + h) * n_chunks;
    float M = -INFINITY;
    for (int c = 0; c < n_chunks; ++c) M = fmax(M, part_ml[2 * (base + c)]);
    float L = 0.f;
    float4 o[8];
    for (int j = 0; j < 8; ++j) o[j] = (float4)(0.f);
    for (int c = 0; c < n_chunks; ++c) {
        const float mc = part_ml[2 * (base + c)];
        if (mc == -INFINITY) continue;
        const float w = exp(mc - M);
        L += w * part_ml[2 * (base + c) + 1];
        __global const float *po = part_o + (base + c) * head_dim + gd * 32;
        for (int j = 0; j < 8; ++j) o[j] += w * vload4(j, po);
    }
    __global float *dst = out + ((long)(t0 + t) * n_head + h) * head_dim + gd * 32;
    for (int j = 0; j < 8; ++j) {
        o[j] /= L;
        vstore4(o[j], j, dst);
    }
    const long gi = (long)(t0 + t) * (n_head * head_dim / 32) + h * (head_dim / 32) + gd;
    quant_group(o, xq + gi * 8, xd + gi);
}

// attn_prefill: attn_partial for a block of ATTN_TB query tokens at once (prefill), so that each
// K and V element of the chunk is loaded once for all of them instead of once per token. Work-group
// (chunk c, head h, block b): item j-th position of the chunk scores it against the block's
// queries (held in __local, scaled); the per-query softmax runs over the chunk; item d then sums
// V's column d for every query. Queries see positions as in attn_partial (causal, window);
// positions a query does not see score -inf and weigh 0. Same outputs as attn_partial: direct (one
// chunk) or fp32 partials for attn_reduce. Grid (n_chunks * ATTN_WG, n_head, ceil(nt / ATTN_TB));
// chunk <= ATTN_PCHUNK.
__kernel __attribute__((reqd_work_group_size(ATTN_WG, 1, 1))) void attn_prefill(
    __global const float *q, __global const half *kc, __global const half *vc,
    __global float *out, __global float *part_o, __global float *part_ml, int n_head,
    int n_head_kv, int head_dim, float scale, int pos0, int t0, int nt, int chunk, int n_chunks, int direct,
    float softcap, int window) {
    __local float qs[ATTN_TB * HEAD_DIM_MAX];
    __local float sc[ATTN_TB * ATTN_PCHUNK];
    __local float scratch[ATTN_WG];
    const int lid = get_local_id(0);
    const int c = get_group_id(0);
    const int h = get_global_id(1);
    const int tb0 = get_global_id(2) * ATTN_TB;
    const int ntb = min(ATTN_TB, nt - tb0);
    const int kvh = h / (n_head / n_head_kv);
    const int kv_dim = n_head_kv * head_dim;
    const int cstart = c * chunk;
    const int cend = min(cstart + chunk, pos0 + t0 + tb0 + ntb);  // the block's last query sees up to here
    for (int i = lid; i < ATTN_TB * head_dim; i += ATTN_WG) {
        const int tb = i / head_dim, d = i % head_dim;
        qs[tb * HEAD_DIM_MAX + d] = tb < ntb ? q[((long)(t0 + tb0 + tb) * n_head + h) * head_dim + d] * scale : 0.f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int j = cstart + lid; j < cend; j += ATTN_WG) {
        __global const half *kr = kc + (long)j * kv_dim + kvh * head_dim;
        float s[ATTN_TB];
        for (int tb = 0; tb < ATTN_TB; ++tb) s[tb] = 0.f;
        for (int d = 0; d < head_dim; d += 4) {
            const float4 k4 = vload_half4(0, kr + d);
            for (int tb = 0; tb < ATTN_TB; ++tb) s[tb] += dot(k4, vload4(0, qs + tb * HEAD_DIM_MAX + d));
        }
        for (int tb = 0; tb < ATTN_TB; ++tb) {
            const int p = pos0 + t0 + tb0 + tb;
            const int first = window > 0 ? max(0, p + 1 - window) : 0;
            float v = s[tb];
            if (softcap > 0.f) v = softcap * tanh(v / softcap);
            sc[tb * ATTN_PCHUNK + (j - cstart)] = tb < ntb && j <= p && j >= first ? v : -INFINITY;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float mt[ATTN_TB], lt[ATTN_TB];
    for (int tb = 0; tb < ATTN_TB; ++tb) {
        __local float *st = sc + tb * ATTN_PCHUNK;
        float m = -INFINITY;
        for (int j = lid; j < cend - cstart; j += ATTN_WG) m = fmax(m, st[j]);
        m = wg_max(m, scratch, ATTN_WG);
        float l = 0.f;
        for (int j = lid; j < cend - cstart; j += ATTN_WG) {
            const float e = st[j] == -INFINITY ? 0.f : exp(st[j] - m);
            st[j] = e;
            l += e;
        }
        l = wg_sum(l, scratch, ATTN_WG);  // its barriers also publish st[] to the work-group
        mt[tb] = m;
        lt[tb] = l;
    }
    for (int d = lid; d < head_dim; d += ATTN_WG) {
        __global const half *vcol = vc + kvh * head_dim + d;
        float o[ATTN_TB];
        for (int tb = 0; tb < ATTN_TB; ++tb) o[tb] = 0.f;
        for (int j = cstart; j < cend; ++j) {
            const float v = vload_half((long)j * kv_dim, vcol);
            for (int tb = 0; tb < ATTN_TB; ++tb) o[tb] += sc[tb * ATTN_PCHUNK + (j - cstart)] * v;
        }
        for (int tb = 0; tb < ntb; ++tb) {
            const int t = tb0 + tb;
            if (direct) out[((long)(t0 + t) * n_head + h) * head_dim + d] = o[tb] / lt[tb];
            else part_o[(((long)t * n_head + h) * n_chunks + c) * head_dim + d] = o[tb];
        }
    }
    if (!direct && lid == 0)
        for (int tb = 0; tb < ntb; ++tb) {
            const long pidx = ((long)(tb0 + tb) * n_head + h) * n_chunks + c;
            part_ml[2 * pidx] = lt[tb] > 0.f ? mt[tb] : -INFINITY;
            part_ml[2 * pidx + 1] = lt[tb];
        }
}
