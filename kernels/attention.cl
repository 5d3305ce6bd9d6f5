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
//   softmax: ATTN_DWG / ATTN_QB items per head, their partial maxima / sums read back from
//     __local by every item of the head (one barrier each);
//   V: items = (4-dim lanes) x (position slices), all heads per item; slices added through __local.
// Per-item arrays are indexed only by constant-bound loops (a loop bounded by the head count
// would put them in slow private memory).
// Fusions (kernel arguments, uniform):
//   rope (one query token): q is rotated while it is staged, and the work-group whose chunk holds
//     the token's position rotates kf / stores kf and vf into the cache rows (block 0 of the
//     query heads) and uses them from __local, rounded to half like the cache: no rope_store_kv.
//   fuse (several chunks): each work-group writes its partial, then takes a ticket (an atomic
//     counter per (token, head block)); the last of the n_chunks combines the partials and
//     writes the output (no attn_reduce launch), resetting the counter for the next launch.
//   quant: the output is also quantized for the Wo product (qa_quant8; head_dim % 32 == 0).
// Without fuse and with several chunks it writes partials for attn_reduce(_q), as attn_partial.
// Grid (n_chunks * ATTN_DWG, n_head_kv * ceil(nq / ATTN_QB), nt), local (ATTN_DWG, 1, 1).

// Orders this item's global writes before its later atomics for other work-groups (device scope).
#if DOT_IMPL == 3
#define GLOBAL_RELEASE() asm volatile("membar.gl;" ::: "memory")
#else
#define GLOBAL_RELEASE() mem_fence(CLK_GLOBAL_MEM_FENCE)
#endif

// A float another work-group of this launch wrote with atomic_xchg (atomic: no stale cache line).
inline float atomic_load_f(__global float *p) { return as_float(atomic_or((__global int *)p, 0)); }

// Adds a softmax partial (max mc, sum lc) to a running one (M, L): the caller then scales its
// running output by *fa and the partial's by *fb. False (nothing to add) for an empty partial.
inline bool online_step(float *M, float *L, float mc, float lc, float *fa, float *fb) {
    if (mc == -INFINITY) return false;
    const float Mn = fmax(*M, mc);
    *fa = exp(*M - Mn);
    *fb = exp(mc - Mn);
    *L = *L * *fa + lc * *fb;
    *M = Mn;
    return true;
}

// Rotate-half RoPE of element d of a head (x: the head's values), HF convention.
inline float rope_elem(__global const float *x, int d, int hd2, float ang) {
    const float c = cos(ang), s = sin(ang);
    return d < hd2 ? x[d] * c - x[d + hd2] * s : x[d] * c + x[d - hd2] * s;
}

__kernel __attribute__((reqd_work_group_size(ATTN_DWG, 1, 1))) void attn_dec(
    __global const float *q, __global half *kc, __global half *vc,
    __global float *out, __global float *part_o, __global float *part_ml, int n_head,
    int n_head_kv, int head_dim, float scale, int pos0, int t0, int chunk, int n_chunks, int direct,
    int quant, __global uint *yq, __global float4 *yd, int rope, __global const float *kf,
    __global const float *vf, __global const float *inv_freq, int fuse, __global int *tickets) {
    // qs: scaled queries, later the output for quant; sc: scores, then softmax numerators
    // [head][pos]; after the V loop all of qsc holds the V slices' partials (ATTN_DWG <= 128).
    __local float qsc[ATTN_QB * HEAD_DIM_MAX + ATTN_QB * ATTN_DCHUNK];
    __local float *qs = qsc, *sc = qsc + ATTN_QB * HEAD_DIM_MAX;
    __local float p1[ATTN_QB * ATTN_DWG];      // per-item partial dots [item][head]; fuse: slices
    __local float red[ATTN_DWG], red2[ATTN_DWG];
    __local float ml[2 * ATTN_QB];             // per head: max, sum
    __local float am[ATTN_DWG], sv[ATTN_DWG];
    __local int sq[ATTN_DWG];
    __local ushort knew[HEAD_DIM_MAX], vnew[HEAD_DIM_MAX];  // the new position's k, v (half bits)
    __local int is_last;
    __local half *kn = (__local half *)knew, *vn = (__local half *)vnew;
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
    __global const float *qt = q + ((long)(t0 + t) * n_head + h0) * head_dim;
    for (int i = lid; i < nh * head_dim; i += ATTN_DWG) {
        const int d = i % head_dim;
        const float x = rope ? rope_elem(qt + i - d, d, hd2, (float)pos * inv_freq[d % hd2]) : qt[i];
        qs[i] = x * scale;
    }
    if (has_new) {
        const long src = (long)(t0 + t) * kv_dim + kvh * head_dim;
        const long dst = (long)pos * kv_dim + kvh * head_dim;
        const int writer = get_group_id(1) % n_qblk == 0;
        for (int d = lid; d < head_dim; d += ATTN_DWG) {
            const float r = rope_elem(kf + src, d, hd2, (float)pos * inv_freq[d % hd2]);
            const float v = vf[src + d];
            vstore_half(r, d, kn);
            vstore_half(v, d, vn);
            if (writer) {
                vstore_half(r, dst + d, kc);
                vstore_half(v, dst + d, vc);
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // Scores. DS items share a position (power of two, <= head_dim / 4 pieces of 4 halfs).
    int DS = 1;
    while (DS * 2 <= ATTN_DWG / len && DS * 2 <= lanes && DS < 8) DS *= 2;
    const int pl = ATTN_DWG / DS, p = lid / DS, ds = lid % DS;
    for (int j0 = 0; j0 < len; j0 += pl) {
        const int j = j0 + p;
        float acc[ATTN_QB];
        for (int i = 0; i < ATTN_QB; ++i) acc[i] = 0.f;
        if (j < len) {
            const bool nw = has_new && start + j == pos;
            __global const half *kr = kc + (long)(start + j) * kv_dim + kvh * head_dim;
            // Loads first, 8 pieces at a time: a latency-bound loop otherwise waits on each one.
            for (int k0 = ds; k0 < lanes; k0 += 8 * DS) {
                float4 kv[8];
                for (int u = 0; u < 8; ++u) {
                    const int k = k0 + u * DS;
                    kv[u] = k >= lanes ? (float4)(0.f) : nw ? vload_half4(k, kn) : vload_half4(k, kr);
                }
                for (int u = 0; u < 8; ++u) {
                    const int k = k0 + u * DS;
                    if (k < lanes)
                        for (int i = 0; i < ATTN_QB; ++i)
                            if (i < nh) acc[i] += dot(kv[u], vload4(k, qs + i * head_dim));
                }
            }
        }
        // The DS partial dots of a position through p1 (DS == 1: the item's own).
        for (int i = 0; i < ATTN_QB; ++i) p1[lid * ATTN_QB + i] = acc[i];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (ds == 0 && j < len)
            for (int i = 0; i < ATTN_QB; ++i)
                if (i < nh) {
                    float s = 0.f;
                    for (int e = 0; e < DS; ++e) s += p1[(lid + e) * ATTN_QB + i];
                    sc[i * ATTN_DCHUNK + j] = s;
                }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    // Softmax numerators per head: TPH items per head; each item reads its head's TPH partial
    // maxima / sums (one barrier per quantity, no tree).
    const int TPH = ATTN_DWG / ATTN_QB, hh = lid / TPH, r = lid % TPH;
    float m = -INFINITY;
    if (hh < nh)
        for (int j = r; j < len; j += TPH) m = fmax(m, sc[hh * ATTN_DCHUNK + j]);
    red[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int e = 0; e < TPH; ++e) m = fmax(m, red[hh * TPH + e]);
    float l = 0.f;
    if (hh < nh)
        for (int j = r; j < len; j += TPH) {
            const float e = exp(sc[hh * ATTN_DCHUNK + j] - m);
            sc[hh * ATTN_DCHUNK + j] = e;
            l += e;
        }
    red2[lid] = l;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (r == 0 && hh < nh) {
        float L = 0.f;
        for (int e = 0; e < TPH; ++e) L += red2[lid + e];
        ml[2 * hh] = m;
        ml[2 * hh + 1] = L;  // read after the V loop's barrier
    }

    // V: items = (4-dim lane) x (position slice), all heads per item (o[] registers); slices
    // 1.. leave their partials in qsc (free once every item is past the V loop) for slice 0.
    const int units = nh * lanes;
    const int nsl = ATTN_DWG / lanes, ln = lid % lanes, sl = lid / lanes;
    float4 o[ATTN_QB];
    for (int i = 0; i < ATTN_QB; ++i) o[i] = (float4)(0.f);
    for (int j0 = sl; j0 < len; j0 += ATTN_VB * nsl) {  // loads first, ATTN_VB positions at a time
        float4 vv[ATTN_VB];
        for (int u = 0; u < ATTN_VB; ++u) {
            const int j = j0 + u * nsl;
            vv[u] = j >= len ? (float4)(0.f)
                    : has_new && start + j == pos ? vload_half4(ln, vn)
                    : vload_half4(ln, vc + (long)(start + j) * kv_dim + kvh * head_dim);
        }
        for (int u = 0; u < ATTN_VB; ++u) {
            const int j = j0 + u * nsl;
            if (j < len)
                for (int i = 0; i < ATTN_QB; ++i)
                    if (i < nh) o[i] += sc[i * ATTN_DCHUNK + j] * vv[u];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (sl > 0)  // (nsl - 1) * nh * head_dim < 4 * ATTN_DWG * ATTN_QB floats: fits qsc
        for (int i = 0; i < ATTN_QB; ++i)
            if (i < nh) vstore4(o[i], ln, qsc + ((sl - 1) * nh + i) * head_dim);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (sl == 0)  // each item reads only its own lane: its later qs writes race with no one
        for (int s = 1; s < nsl; ++s)
            for (int i = 0; i < ATTN_QB; ++i)
                if (i < nh) o[i] += vload4(ln, qsc + ((s - 1) * nh + i) * head_dim);
    if (sl == 0)
        for (int i = 0; i < ATTN_QB; ++i) {
            if (i >= nh) break;
            const int h = h0 + i;
            if (direct) {
                o[i] /= ml[2 * i + 1];
                vstore4(o[i], ln, out + ((long)(t0 + t) * n_head + h) * head_dim);
                vstore4(o[i], ln, qs + i * head_dim);
            } else {
                __global float *po = part_o + ((pbase + h) * n_chunks + c) * head_dim + 4 * ln;
                if (fuse) {  // read by another work-group of this launch: atomics (see below)
                    atomic_xchg(po, o[i].x);
                    atomic_xchg(po + 1, o[i].y);
                    atomic_xchg(po + 2, o[i].z);
                    atomic_xchg(po + 3, o[i].w);
                } else {
                    vstore4(o[i], 0, po);
                }
            }
        }
    if (!direct && lid < nh) {
        __global float *pm = part_ml + 2 * ((pbase + h0 + lid) * n_chunks + c);
        if (fuse) {
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
    // nothing else between work-groups) with device-scope fences around the ticket.
    if (!direct) {
        GLOBAL_RELEASE();
    }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    if (!direct && lid == 0) {
        __global int *tk = tickets + (long)t * get_num_groups(1) + get_group_id(1);
        const int last = atomic_inc(tk) == nct - 1;
        if (last) atomic_xchg(tk, 0);  // every chunk has counted: ready for the next launch
        is_last = last;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!direct && !is_last) return;  // uniform
    if (!direct) {  // uniform
        GLOBAL_RELEASE();
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
                        mc[u] = atomic_load_f(pm);
                        lc[u] = atomic_load_f(pm + 1);
                        pv[u] = (float4)(atomic_load_f(po), atomic_load_f(po + 1), atomic_load_f(po + 2),
                                         atomic_load_f(po + 3));
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
