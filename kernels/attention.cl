// Causal attention over the half KV cache, split over the context (flash-decoding):
// attn_partial: work-group (chunk c, head h, token t) scores positions [c*chunk, min(.., pos+1))
//   of query token t (position pos0 + t) against kv head h / (n_head / n_head_kv), keeps the
//   softmax numerators in __local, and writes either the normalised output (one chunk: direct)
//   or an fp32 partial (max m, sum l, unnormalised o[head_dim]) for attn_reduce.
// attn_reduce: combines the chunks of each (token, head): o = Σ e^(m_c - M) o_c / Σ e^(m_c - M) l_c.
// Grid of attn_partial: (n_chunks * ATTN_WG, n_head, nt); of attn_reduce: (head_dim, n_head, nt),
// for query tokens t0..t0+nt-1 (partials indexed by t - t0).

__kernel __attribute__((reqd_work_group_size(ATTN_WG, 1, 1))) void attn_partial(
    __global const float *q, __global const half *kc, __global const half *vc,
    __global float *out, __global float *part_o, __global float *part_ml, int n_head,
    int n_head_kv, int head_dim, float scale, int pos0, int t0, int chunk, int n_chunks, int direct) {
    __local float qs[HEAD_DIM_MAX];
    __local float sc[ATTN_MAX_CHUNK];
    __local float scratch[ATTN_WG];
    const int lid = get_local_id(0);
    const int c = get_group_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int n_ctx_q = pos0 + t0 + t + 1;  // causal: positions 0..pos0+t0+t
    const int start = c * chunk;
    const int end = min(start + chunk, n_ctx_q);
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

// attn_dec: decode attention (a few query tokens) that loads every K and V element once for all
// the query heads of a GQA group (up to ATTN_QB of them per work-group). Work-group = (chunk c,
// kv head g x query-head block, token t), ATTN_DWG items, chunk <= ATTN_DCHUNK positions.
//   scores: items = (position lanes) x (DS dim splits); each reads 16-byte pieces of its K row
//     (consecutive items: consecutive pieces of one row) and accumulates one dot per query head;
//   softmax: ATTN_DWG / ATTN_QB items per head, __local trees for max and sum;
//   V: items = (head_dim / 4 lanes of 4 dims) x (position slices); the slices' partial outputs
//     are added through __local.
// Writes the normalised output (one chunk: direct) or partials for attn_reduce, as attn_partial.
// Grid (n_chunks * ATTN_DWG, n_head_kv * ceil(nq / ATTN_QB), nt), local (ATTN_DWG, 1, 1).
__kernel __attribute__((reqd_work_group_size(ATTN_DWG, 1, 1))) void attn_dec(
    __global const float *q, __global const half *kc, __global const half *vc,
    __global float *out, __global float *part_o, __global float *part_ml, int n_head,
    int n_head_kv, int head_dim, float scale, int pos0, int t0, int chunk, int n_chunks, int direct,
    int quant, __global uint *yq, __global float4 *yd) {
    __local float qs[ATTN_QB * HEAD_DIM_MAX];  // scaled queries; later the V slice partials
    __local float sc[ATTN_QB * ATTN_DCHUNK];   // scores, then softmax numerators [head][pos]
    __local float p1[ATTN_QB * ATTN_DWG];      // per-item partial dots [item][head]
    __local float red[ATTN_DWG];
    __local float ml[2 * ATTN_QB];             // per head: max, sum
    __local float am[ATTN_DWG], sv[ATTN_DWG];
    __local int sq[ATTN_DWG];
    const int lid = get_local_id(0);
    const int c = get_group_id(0);
    const int nq = n_head / n_head_kv;
    const int n_qblk = (nq + ATTN_QB - 1) / ATTN_QB;
    const int kvh = get_group_id(1) / n_qblk;
    const int h0 = kvh * nq + (get_group_id(1) % n_qblk) * ATTN_QB;
    const int nh = min(ATTN_QB, kvh * nq + nq - h0);
    const int t = get_global_id(2);
    const int n_ctx_q = pos0 + t0 + t + 1;
    const int start = c * chunk;
    const int end = min(start + chunk, n_ctx_q);
    const int len = end - start;
    const int kv_dim = n_head_kv * head_dim;
    const long pbase = (long)t * n_head;  // partial index of head h: (pbase + h) * n_chunks + c
    if (len <= 0) {  // uniform per work-group: the chunk lies beyond the token's position
        for (int i = lid; i < nh * head_dim; i += ATTN_DWG)
            part_o[((pbase + h0 + i / head_dim) * n_chunks + c) * head_dim + i % head_dim] = 0.f;
        if (lid < nh) {
            part_ml[2 * ((pbase + h0 + lid) * n_chunks + c)] = -INFINITY;
            part_ml[2 * ((pbase + h0 + lid) * n_chunks + c) + 1] = 0.f;
        }
        return;
    }
    __global const float *qt = q + ((long)(t0 + t) * n_head + h0) * head_dim;
    for (int i = lid; i < nh * head_dim; i += ATTN_DWG) qs[i] = qt[i] * scale;
    barrier(CLK_LOCAL_MEM_FENCE);

    // Scores. DS items share a position (power of two, <= head_dim / 4 pieces of 4 halfs).
    const int pieces = head_dim / 4;
    int DS = 1;
    while (DS * 2 <= ATTN_DWG / max(len, 1) && DS * 2 <= pieces && DS < 8) DS *= 2;
    const int pl = ATTN_DWG / DS, p = lid / DS, ds = lid % DS;
    for (int j0 = 0; j0 < len; j0 += pl) {
        const int j = j0 + p;
        float acc[ATTN_QB];
        for (int i = 0; i < ATTN_QB; ++i) acc[i] = 0.f;
        if (j < len) {
            __global const half *kr = kc + (long)(start + j) * kv_dim + kvh * head_dim;
            // Loads first, 8 pieces at a time: a latency-bound loop otherwise waits on each one.
            for (int k0 = ds; k0 < pieces; k0 += 8 * DS) {
                float4 kv[8];
                for (int u = 0; u < 8; ++u) {
                    const int k = k0 + u * DS;
                    kv[u] = k < pieces ? vload_half4(k, kr) : (float4)(0.f);
                }
                for (int u = 0; u < 8; ++u) {
                    const int k = k0 + u * DS;
                    if (k < pieces)
                        for (int i = 0; i < ATTN_QB; ++i)
                            if (i < nh) acc[i] += dot(kv[u], vload4(k, qs + i * head_dim));
                }
            }
        }
        if (DS == 1) {
            if (j < len)
                for (int i = 0; i < nh; ++i) sc[i * ATTN_DCHUNK + j] = acc[i];
        } else {
            for (int i = 0; i < nh; ++i) p1[lid * ATTN_QB + i] = acc[i];
            barrier(CLK_LOCAL_MEM_FENCE);
            if (ds == 0 && j < len)
                for (int i = 0; i < nh; ++i) {
                    float s = 0.f;
                    for (int e = 0; e < DS; ++e) s += p1[(lid + e) * ATTN_QB + i];
                    sc[i * ATTN_DCHUNK + j] = s;
                }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // Softmax numerators per head: TPH items per head, a __local tree per quantity.
    const int TPH = ATTN_DWG / ATTN_QB, hh = lid / TPH, r = lid % TPH;
    float m = -INFINITY;
    if (hh < nh)
        for (int j = r; j < len; j += TPH) m = fmax(m, sc[hh * ATTN_DCHUNK + j]);
    red[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = TPH / 2; s > 0; s >>= 1) {
        if (r < s) red[lid] = fmax(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    m = red[hh * TPH];
    barrier(CLK_LOCAL_MEM_FENCE);
    float l = 0.f;
    if (hh < nh)
        for (int j = r; j < len; j += TPH) {
            const float e = exp(sc[hh * ATTN_DCHUNK + j] - m);
            sc[hh * ATTN_DCHUNK + j] = e;
            l += e;
        }
    red[lid] = l;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = TPH / 2; s > 0; s >>= 1) {
        if (r < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (r == 0 && hh < nh) {
        ml[2 * hh] = m;
        ml[2 * hh + 1] = red[lid];
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // V: lanes of 4 dims x slices of positions.
    const int lanes = head_dim / 4, nsl = ATTN_DWG / lanes, ln = lid % lanes, sl = lid / lanes;
    float4 o[ATTN_QB];
    for (int i = 0; i < ATTN_QB; ++i) o[i] = (float4)(0.f);
    if (sl < nsl)
        for (int j0 = sl; j0 < len; j0 += 8 * nsl) {  // loads first, 8 positions at a time
            float4 vv[8];
            for (int u = 0; u < 8; ++u) {
                const int j = j0 + u * nsl;
                vv[u] = j < len ? vload_half4(ln, vc + (long)(start + j) * kv_dim + kvh * head_dim) : (float4)(0.f);
            }
            for (int u = 0; u < 8; ++u) {
                const int j = j0 + u * nsl;
                if (j < len)
                    for (int i = 0; i < ATTN_QB; ++i)
                        if (i < nh) o[i] += sc[i * ATTN_DCHUNK + j] * vv[u];
            }
        }
    for (int s = 1; s < nsl; ++s) {  // slice s hands its partial to slice 0 (qs is free now)
        if (sl == s)
            for (int i = 0; i < nh; ++i) vstore4(o[i], ln, qs + i * head_dim);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (sl == 0)
            for (int i = 0; i < nh; ++i) o[i] += vload4(ln, qs + i * head_dim);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (sl == 0)
        for (int i = 0; i < nh; ++i) {
            const int h = h0 + i;
            if (direct) vstore4(o[i] / ml[2 * i + 1], ln, out + ((long)(t0 + t) * n_head + h) * head_dim);
            else vstore4(o[i], ln, part_o + ((pbase + h) * n_chunks + c) * head_dim);
        }
    if (!direct && lid < nh) {
        part_ml[2 * ((pbase + h0 + lid) * n_chunks + c)] = ml[2 * lid];
        part_ml[2 * ((pbase + h0 + lid) * n_chunks + c) + 1] = ml[2 * lid + 1];
    }
    if (!(direct && quant)) return;  // uniform
    // One chunk and int8 activations: quantize this block's outputs for the Wo product
    // (head_dim % 32 == 0: the host checks), 8 values per item through __local.
    if (sl == 0)
        for (int i = 0; i < nh; ++i) vstore4(o[i] / ml[2 * i + 1], ln, qs + i * head_dim);
    barrier(CLK_LOCAL_MEM_FENCE);
    const int K = n_head * head_dim, nv = nh * head_dim / 8;
    for (int w0 = 0; w0 < nv; w0 += ATTN_DWG) {
        const int w = w0 + lid;
        const bool ok = w < nv;
        float4 a = (float4)(0.f), b = (float4)(0.f);
        if (ok) {
            a = vload4(2 * w, qs);
            b = vload4(2 * w + 1, qs);
        }
        const int e = h0 * head_dim + 8 * w;
        qa_quant8(a, b, ok, lid, e / 32, (e / 8) % 4, yq + (long)(t0 + t) * (K / 4), yd + (long)(t0 + t) * (K / 32),
                  am, sv, sq);
    }
}

// attn_reduce_q: attn_reduce fused with the int8 quantization of its output for the next
// product (Wo): one item per 8 consecutive output elements of a token (head_dim % 32 == 0, so a
// 32-group never straddles two heads). Writes the float output too. Grid (ceil(n_head *
// head_dim / 8 / QA_WG) * QA_WG, nt), local (QA_WG, 1).
__kernel void attn_reduce_q(__global float *out, __global const float *part_o,
                            __global const float *part_ml, int n_head, int head_dim, int n_chunks,
                            int t0, __global uint *yq, __global float4 *yd) {
    __local float am[QA_WG], sv[QA_WG];
    __local int sq[QA_WG];
    const int w = get_global_id(0), t = get_global_id(1), lid = get_local_id(0);
    const int K = n_head * head_dim;
    const bool ok = w < K / 8;
    float4 a = (float4)(0.f), b = (float4)(0.f);
    if (ok) {
        const int h = (8 * w) / head_dim, d0 = (8 * w) % head_dim;
        const long base = ((long)t * n_head + h) * n_chunks;
        // Loads first, 8 chunks at a time (a chain of dependent loads otherwise).
        float M = -INFINITY;
        for (int c0 = 0; c0 < n_chunks; c0 += 8) {
            float mm[8];
            for (int u = 0; u < 8; ++u) mm[u] = c0 + u < n_chunks ? part_ml[2 * (base + c0 + u)] : -INFINITY;
            for (int u = 0; u < 8; ++u) M = fmax(M, mm[u]);
        }
        float L = 0.f;
        for (int c0 = 0; c0 < n_chunks; c0 += 8) {
            float2 mlc[8];
            float4 pa[8], pb[8];
            for (int u = 0; u < 8; ++u) {
                const bool in = c0 + u < n_chunks;
                __global const float *po = part_o + (base + c0 + u) * head_dim + d0;
                mlc[u] = in ? vload2(base + c0 + u, part_ml) : (float2)(-INFINITY, 0.f);
                pa[u] = in ? vload4(0, po) : (float4)(0.f);
                pb[u] = in ? vload4(1, po) : (float4)(0.f);
            }
            for (int u = 0; u < 8; ++u) {
                if (mlc[u].x == -INFINITY) continue;
                const float e = exp(mlc[u].x - M);
                L += e * mlc[u].y;
                a += e * pa[u];
                b += e * pb[u];
            }
        }
        a /= L;
        b /= L;
        __global float *o = out + (long)(t0 + t) * K + 8 * w;
        vstore4(a, 0, o);
        vstore4(b, 1, o);
    }
    qa_quant8(a, b, ok, lid, w / 4, w % 4, yq + (long)(t0 + t) * (K / 4), yd + (long)(t0 + t) * (K / 32), am, sv, sq);
}
