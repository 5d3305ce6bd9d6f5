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
// kv head g x query-head block, token t), ATTN_DWG items, chunk <= min(ATTN_DCHUNK, ATTN_KV /
// head_dim) positions, head_dim % 8 == 0 (the host checks both).
//   staging: the chunk's K (transposed, [4-dim piece][position]) and V rows go to __local as half,
//     16 bytes per load, together with the scaled queries: one round trip for all of them;
//   scores: item -> (head, position), positions fastest: conflict-free __local reads;
//   softmax: ATTN_DWG / ATTN_QB items per head, their partial maxima / sums read back from
//     __local by every item of the head (one barrier each);
//   V: item -> (head, 4-dim lane) x position slice; slices added through __local.
// Every phase is a short loop over __local data with one accumulator set per item: the compiled
// kernel stays small (an earlier version kept K / V in registers with every head per item, fully
// unrolled: ~8k PTX lines and 20.6 vs 12.3 us per layer on the H100, bound by executing that code).
// Fusions (kernel arguments, uniform):
//   rope (one query token): q is rotated while it is staged, and the work-group whose chunk holds
//     the token's position rotates kf / stores kf and vf into the cache rows (block 0 of the
//     query heads) and into its staging, rounded to half like the cache: no rope_store_kv.
//   fuse (several chunks): each work-group writes its partial, then takes a ticket (an atomic
//     counter per (token, head block)); the last of the n_chunks combines the partials and
//     writes the output (no attn_reduce launch), resetting the counter for the next launch.
//   quant: the output is also quantized for the Wo product (qa_quant8; head_dim % 32 == 0).
// Without fuse and with several chunks it writes partials for attn_reduce(_q), as attn_partial.
// Grid (n_chunks * ATTN_DWG, n_head_kv * ceil(nq / ATTN_QB), nt), local (ATTN_DWG, 1, 1).

__kernel __attribute__((reqd_work_group_size(ATTN_DWG, 1, 1))) void attn_dec(
    __global const float *q, __global half *kc, __global half *vc,
    __global float *out, __global float *part_o, __global float *part_ml, int n_head,
    int n_head_kv, int head_dim, float scale, int pos0, int t0, int chunk, int n_chunks, int direct,
    int quant, __global uint *yq, __global float4 *yd, int rope, __global const float *kf,
    __global const float *vf, __global const float *inv_freq, int fuse, __global int *tickets) {
    // qs: scaled queries, later the output for quant; sc: scores, then softmax numerators
    // [head][position]; ks / vs: the chunk's K (transposed) and V as half, ATTN_KV halfs each;
    // p1 (in ks once the scores are done): V-slice sums, then the fused combine's slices.
    __local float qs[ATTN_QB * HEAD_DIM_MAX];
    __local float sc[ATTN_QB * ATTN_DCHUNK];
    __local float4 ksb[ATTN_KV / 8], vsb[ATTN_KV / 8];  // ATTN_KV halfs each, 16-byte aligned by type
    __local float red[ATTN_DWG], red2[ATTN_DWG];
    __local float ml[2 * ATTN_QB];  // per head: max, sum
    __local float am[ATTN_DWG], sv[ATTN_DWG];
    __local int sq[ATTN_DWG];
    __local int is_last;
    __local half *ks = (__local half *)ksb, *vs = (__local half *)vsb;
    __local float *p1 = (__local float *)ksb;  // needs 8 * ATTN_DWG floats <= ATTN_KV / 2
    const int lid = get_local_id(0);
    const int c = get_group_id(0);
    const int nq = n_head / n_head_kv;
    const int n_qblk = (nq + ATTN_QB - 1) / ATTN_QB;
    const int kvh = get_group_id(1) / n_qblk;
    const int h0 = kvh * nq + (get_group_id(1) % n_qblk) * ATTN_QB;
    const int nh = min(ATTN_QB, kvh * nq + nq - h0);
    const int t = get_global_id(2);
    const int pos = pos0 + t0 + t;  // the query token's position
    const int start = c * chunk;
    const int end = min(start + chunk, pos + 1);
    const int len = end - start;
    const int kv_dim = n_head_kv * head_dim;
    const int hd2 = head_dim / 2;
    const long pbase = (long)t * n_head;  // partial index of head h: (pbase + h) * n_chunks + c
    const int lanes = head_dim / 4;
    const int has_new = rope && pos >= start && pos < end;  // uniform
    // Chunks that hold positions of this token: the ticket count of the fused reduction.
    const int nct = min(n_chunks, (pos + chunk) / chunk);
    if (len <= 0) {  // uniform: the chunk lies beyond the token's position (several tokens)
        if (direct || fuse) return;
        for (int i = lid; i < nh * head_dim; i += ATTN_DWG)
            part_o[((pbase + h0 + i / head_dim) * n_chunks + c) * head_dim + i % head_dim] = 0.f;
        if (lid < nh) {
            part_ml[2 * ((pbase + h0 + lid) * n_chunks + c)] = -INFINITY;
            part_ml[2 * ((pbase + h0 + lid) * n_chunks + c) + 1] = 0.f;
        }
        return;
    }
    // The chunk's K and V (chunk * head_dim <= ATTN_KV: the host); the new position's row is not
    // read: this launch writes it (below).
    const long kvo = (long)start * kv_dim + kvh * head_dim;  // the chunk's first row, this kv head
    attn_stage_kv(kc, vc, kvo, kv_dim, len, head_dim, chunk, has_new ? pos - start : -1, ks, vs, lid, ATTN_DWG);
    // Queries (scaled; rotated with rope): item -> 4 dims of one head.
    __global const float *qt = q + ((long)(t0 + t) * n_head + h0) * head_dim;
    for (int i = lid; i < nh * lanes; i += ATTN_DWG) {
        const int d = 4 * (i % lanes);
        __global const float *qh = qt + (i / lanes) * head_dim;
        float4 x = vload4(0, qh + d);
        if (rope)
            x = rope4(x, vload4(0, qh + (d < hd2 ? d + hd2 : d - hd2)), d < hd2, (float)pos, vload4(0, inv_freq + d % hd2));
        vstore4(x * scale, 0, qs + (i / lanes) * head_dim + d);
    }
    if (has_new) {  // the new position: rotate k, store k and v (cache: block 0) and stage them
        const long src = (long)(t0 + t) * kv_dim + kvh * head_dim;
        const long dst = (long)pos * kv_dim + kvh * head_dim;
        attn_new_kv(kf + src, vf + src, kc + dst, vc + dst, get_group_id(1) % n_qblk == 0, pos - start, pos, inv_freq,
                    head_dim, chunk, ks, vs, lid, ATTN_DWG);
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    attn_scores(qs, ks, sc, ATTN_DCHUNK, nh, len, head_dim, chunk, lid, ATTN_DWG);
    attn_softmax(sc, ATTN_DCHUNK, nh, len, red, red2, ml, lid, ATTN_DWG);  // ml read after the V pass's barrier

    // V: item -> unit (head h, 4-dim lane ln) x position slice sl; slices 1.. hand their sums to
    // slice 0 through p1 (the K staging, free now). Several passes when units > ATTN_DWG.
    const int units = nh * lanes, nsl = max(1, ATTN_DWG / units);
    for (int u0 = 0; u0 < units; u0 += ATTN_DWG) {  // one pass when nsl > 1
        const int un = nsl > 1 ? lid % units : u0 + lid, sl = nsl > 1 ? lid / units : 0;
        const int h = un / lanes, ln = un % lanes;
        const bool act = sl < nsl && un < units;
        float4 o = (float4)(0.f);
        if (act)
            for (int j = sl; j < len; j += nsl) o += sc[h * ATTN_DCHUNK + j] * vload_half4(ln, vs + j * head_dim);
        if (act && sl > 0) vstore4(o, (sl - 1) * units + un, p1);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (act && sl == 0) {
            for (int e = 1; e < nsl; ++e) o += vload4((e - 1) * units + un, p1);
            const int hq = h0 + h;
            if (direct) {
                o /= ml[2 * h + 1];
                vstore4(o, ln, out + ((long)(t0 + t) * n_head + hq) * head_dim);
                vstore4(o, ln, qs + h * head_dim);
            } else {
                __global float *po = part_o + ((pbase + hq) * n_chunks + c) * head_dim + 4 * ln;
                if (fuse && FUSE_ATOMICS) {  // read by another work-group of this launch (see below)
                    atomic_xchg(po, o.x);
                    atomic_xchg(po + 1, o.y);
                    atomic_xchg(po + 2, o.z);
                    atomic_xchg(po + 3, o.w);
                } else {
                    vstore4(o, 0, po);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);  // p1 reused by the next pass
    }
    if (!direct && lid < nh) {
        __global float *pm = part_ml + 2 * ((pbase + h0 + lid) * n_chunks + c);
        if (fuse && FUSE_ATOMICS) {
            atomic_xchg(pm, ml[2 * lid]);
            atomic_xchg(pm + 1, ml[2 * lid + 1]);
        } else {
            pm[0] = ml[2 * lid];
            pm[1] = ml[2 * lid + 1];
        }
    }
    if (!direct && !fuse) return;  // uniform: attn_reduce(_q) combines the partials

    // Fused reduction: the last work-group of this (token, head block) to finish (a ticket)
    // combines all chunks. The partials cross work-groups through atomics (OpenCL 1.2 orders
    // nothing else between work-groups) with device-scope fences around the ticket; NVIDIA
    // sm_70+: plain stores and L2 loads ordered by the ticket's acquire-release atomic alone
    // (common.cl xg_ticket_u).
    if (!direct) {
        XG_RELEASE_ITEMS();
    }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    if (!direct && lid == 0) {
        __global int *tk = tickets + (long)t * get_num_groups(1) + get_group_id(1);
        const int last = (int)xg_ticket_u((__global uint *)tk) == nct - 1;
        if (last) atomic_xchg(tk, 0);  // every chunk has counted: ready for the next launch
        is_last = last;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!direct && !is_last) return;  // uniform
    if (!direct) {  // uniform
        XG_ACQUIRED();
        // unit (head, 4 dims) x cs slices of the chunks, each with a running (M, L, o) over its
        // chunks, loads ATTN_VB chunks at a time; the slices merged through p1 (8 floats each).
        const int cs = max(1, ATTN_DWG / units);
        const int csl = cs > 1 ? lid / units : 0;
        for (int u0 = 0; u0 < units; u0 += ATTN_DWG) {  // one pass when cs > 1
            const int un = cs > 1 ? lid % units : u0 + lid;
            const int i = un / lanes, ln = un % lanes, h = h0 + i;
            const long base = (pbase + h) * n_chunks;
            float M = -INFINITY, L = 0.f;
            float4 o = (float4)(0.f);
            if (csl < cs && un < units)
                for (int c0 = csl; c0 < nct; c0 += ATTN_VB * cs) {
                    float mc[ATTN_VB], lc[ATTN_VB];
                    float4 pv[ATTN_VB];
                    for (int u = 0; u < ATTN_VB; ++u) {
                        const int cc = min(c0 + u * cs, nct - 1);
                        __global float *po = part_o + (base + cc) * head_dim + 4 * ln;
                        __global float *pm = part_ml + 2 * (base + cc);
#if FUSE_ATOMICS
                        mc[u] = xg_load(pm);
                        lc[u] = xg_load(pm + 1);
                        pv[u] = (float4)(xg_load(po), xg_load(po + 1), xg_load(po + 2),
                                         xg_load(po + 3));
#else
                        const float2 m2 = load_cg2(pm);
                        mc[u] = m2.x;
                        lc[u] = m2.y;
                        pv[u] = load_cg4(po);
#endif
                    }
                    for (int u = 0; u < ATTN_VB; ++u) {
                        float fa, fb;
                        if (c0 + u * cs < nct && online_step(&M, &L, mc[u], lc[u], &fa, &fb)) o = o * fa + pv[u] * fb;
                    }
                }
            if (cs > 1 && csl < cs) {
                __local float *slot = p1 + 8 * (csl * units + un);
                slot[0] = M;
                slot[1] = L;
                vstore4(o, 1, slot);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (cs > 1 && csl == 0)
                for (int s2 = 1; s2 < cs; ++s2) {
                    __local const float *slot = p1 + 8 * (s2 * units + un);
                    float fa, fb;
                    if (online_step(&M, &L, slot[0], slot[1], &fa, &fb)) o = o * fa + vload4(1, slot) * fb;
                }
            if (csl == 0 && un < units) {
                o /= L;
                vstore4(o, ln, out + ((long)(t0 + t) * n_head + h) * head_dim);
                vstore4(o, ln, qs + i * head_dim);
            }
        }
    }
    if (!quant) return;  // uniform
    // int8 activations: quantize this block's outputs (in qs) for the Wo product (head_dim % 32
    // == 0: the host checks), 8 values per item through __local.
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
// product (Wo). Work-group = (head h, token t), QA_WG items: unit = 8 consecutive output values
// (head_dim / 8 units; head_dim % 32 == 0, so a 32-group never straddles two heads) x cs slices
// of the chunks, each slice a running (M, L, o) over its chunks (loads of 4 chunks at a time),
// the slices merged through __local; then slice 0 writes the float output and quantizes it.
// Grid (n_head * QA_WG, nt), local (QA_WG, 1).
__kernel void attn_reduce_q(__global float *out, __global const float *part_o,
                            __global const float *part_ml, int n_head, int head_dim, int n_chunks,
                            int t0, __global uint *yq, __global float4 *yd) {
    __local float am[QA_WG], sv[QA_WG];
    __local int sq[QA_WG];
    __local float mg[QA_WG * 10];  // per (slice, unit): M, L, o[8]
    const int lid = get_local_id(0), h = get_group_id(0), t = get_global_id(1);
    const int units = head_dim / 8, cs = max(1, QA_WG / units), K = n_head * head_dim;
    const long base = ((long)t * n_head + h) * n_chunks;
    for (int u0 = 0; u0 < units; u0 += QA_WG) {  // one pass when cs > 1
        const int un = cs > 1 ? lid % units : u0 + lid;
        const int sl = cs > 1 ? lid / units : 0;
        float M = -INFINITY, L = 0.f;
        float4 a = (float4)(0.f), b = (float4)(0.f);
        if (sl < cs && un < units)
            for (int c0 = sl; c0 < n_chunks; c0 += 4 * cs) {
                float2 mlc[4];
                float4 pa[4], pb[4];
                for (int u = 0; u < 4; ++u) {
                    const int cc = min(c0 + u * cs, n_chunks - 1);
                    __global const float *po = part_o + (base + cc) * head_dim + 8 * un;
                    mlc[u] = vload2(base + cc, part_ml);
                    pa[u] = vload4(0, po);
                    pb[u] = vload4(1, po);
                }
                for (int u = 0; u < 4; ++u) {
                    float fa, fb;
                    if (c0 + u * cs < n_chunks && online_step(&M, &L, mlc[u].x, mlc[u].y, &fa, &fb)) {
                        a = a * fa + pa[u] * fb;
                        b = b * fa + pb[u] * fb;
                    }
                }
            }
        if (cs > 1 && sl < cs) {
            __local float *slot = mg + 10 * (sl * units + un);
            slot[0] = M;
            slot[1] = L;
            vstore4(a, 0, slot + 2);
            vstore4(b, 1, slot + 2);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (cs > 1 && sl == 0)
            for (int s2 = 1; s2 < cs; ++s2) {
                __local const float *slot = mg + 10 * (s2 * units + un);
                float fa, fb;
                if (online_step(&M, &L, slot[0], slot[1], &fa, &fb)) {
                    a = a * fa + vload4(0, slot + 2) * fb;
                    b = b * fa + vload4(1, slot + 2) * fb;
                }
            }
        const bool ok = sl == 0 && un < units;
        if (ok) {
            a /= L;
            b /= L;
            __global float *o = out + ((long)(t0 + t) * n_head + h) * head_dim + 8 * un;
            vstore4(a, 0, o);
            vstore4(b, 1, o);
        }
        const int e = h * head_dim + 8 * un;
        qa_quant8(a, b, ok, lid, e / 32, (e / 8) % 4, yq + (long)(t0 + t) * (K / 4),
                  yd + (long)(t0 + t) * (K / 32), am, sv, sq);
    }
}
