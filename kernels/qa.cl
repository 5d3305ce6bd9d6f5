// Decode products over int8 activations (tuning flag qa; the NVIDIA row): quant_act, the
// group-major Q4 products gmq_q4 / gmq3_q4 / gmq_swiglu_q4 (same grids as gemv.cl's gm_*, whose
// layout notes apply), and layer_tail_q4, one launch for a decoder layer's products after
// attention. Helpers shared with gemv.cl / attention.cl (GM_LOAD_STEP, gm_reduce, qa_*) are in
// common.cl.

// ---- int8 x, 4-way int8 dot products ----
// The float group-major kernels (gemv.cl gm_*) spend ~4 instructions per weight on nibble decode and the
// per-item norm/Σx work: on an H100 that, not memory, bounds them. Here the activations are
// quantized once per product input (quant_act: per 32-group, d = max|v| / 127, q = rint(v / d),
// v = x or x * rsqrt(mean x² + eps) * nw) and the products use integer dot products of the
// nibbles (masked, not shifted into floats) with q: ~0.7 instructions per weight.
// Dot product (DOT_IMPL from the host): 1 cl_khr_integer_dot_product, 2 the Arm extension
// (Mali: arm_dot_acc), 3 NVIDIA PTX dp4a, 0 portable (4 multiplies). Nibbles are 0..15, so the
// signed x signed forms are exact.
#if DOT_IMPL == 1
inline int dot4(uint a, uint b, int c) { return c + dot_4x8packed_ss_int(a, b); }
#elif DOT_IMPL == 2
#pragma OPENCL EXTENSION cl_arm_integer_dot_product_accumulate_int8 : enable
inline int dot4(uint a, uint b, int c) { return arm_dot_acc(as_char4(a), as_char4(b), c); }
#elif DOT_IMPL == 3
inline int dot4(uint a, uint b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
#else
inline int dot4(uint a, uint b, int c) {
    const int4 p = convert_int4(as_char4(a)) * convert_int4(as_char4(b));
    return c + p.x + p.y + p.z + p.w;
}
#endif

// Σ q_w q_x over one Q4 group: word j of w holds elements 8j..8j+7 at bits 4i; masking with
// 0x0F0F0F0F leaves the even elements in its bytes, shifting by 4 first the odd ones. xl / xh
// hold the group's int8 x in that order (quant_act writes it so).
inline int q4_dot_i8(uint4 w, uint4 xl, uint4 xh) {
    const uint m = 0x0F0F0F0Fu;
    int s = dot4(w.s0 & m, xl.s0, 0);
    s = dot4((w.s0 >> 4) & m, xh.s0, s);
    s = dot4(w.s1 & m, xl.s1, s);
    s = dot4((w.s1 >> 4) & m, xh.s1, s);
    s = dot4(w.s2 & m, xl.s2, s);
    s = dot4((w.s2 >> 4) & m, xh.s2, s);
    s = dot4(w.s3 & m, xl.s3, s);
    return dot4((w.s3 >> 4) & m, xh.s3, s);
}

// x (n, K) at x_off -> per token t and 32-group g: xq[t * K/4 + g*8 ..] and xd[t * K/32 + g]
// (qa_quant8). One item per 8 elements. Grid (ceil(K / 8 / QA_WG) * QA_WG, n), local (QA_WG, 1).
// With the norm, v = x * rsqrt(mean x² + eps) * nw: every work-group first sums x² of its token.
__kernel void quant_act(__global const float *x, int x_off, int K, int use_norm,
                        __global const float *nw, float eps, __global uint *xq,
                        __global float4 *xd) {
    __local float scratch[QA_SCR(QA_WG)];
    __local float am[QA_WG], sv[QA_WG];
    __local int sq[QA_WG];
    const int t = get_global_id(1), lid = get_local_id(0);
    __global const float *xt = x + x_off + (long)t * K;
    const float inv = use_norm ? qa_inv_rms(xt, K, eps, lid, QA_WG, scratch) : 1.f;
    const int w = get_global_id(0);  // word pair: group w / 4, word w % 4
    float4 a, b;
    const bool ok = qa_load8(xt, use_norm, nw, inv, w, K, &a, &b);
    qa_quant8(a, b, ok, lid, w / 4, w % 4, xq + (long)t * (K / 4), xd + (long)t * (K / 32), am, sv, sq);
}

// The gm products over quantized x (Q4 only): same work-group shape, layout and reduction as
// gm_*_q4. Per group: Q4 without mins d_w d_x (Σ q_w q_x - 8 Σ q_x) (integers exact), with mins
// d_w d_x Σ q_w q_x + m Σv.
#define GMQ_ACC(NAME, AS)                                                                          \
inline void NAME(__global const uint4 *WA, __global const half *SA, __global const half *MA, int hma,   \
                 __global const uint4 *WB, __global const half *SB, __global const half *MB, int hmb,   \
                 int two, int rows, int row0, int R, int G, int s, int ns, AS const uint4 *xq,          \
                 AS const float4 *xd, float *acc, float *bcc) {                                    \
    long rr[GM_ROWS];                                                                              \
    for (int i = 0; i < GM_ROWS; ++i) rr[i] = min(row0 + i * R, rows - 1);                         \
    for (int g0 = s * GM_UNROLL; g0 < G; g0 += ns * GM_UNROLL) {                                   \
        GM_LOAD_STEP(uint4)                                                                        \
        for (int u = 0; u < GM_UNROLL; ++u) {                                                      \
            const int g = g0 + u;                                                                  \
            if (g >= G) break;                                                                     \
            const uint4 xl = xq[2 * g], xh = xq[2 * g + 1];                                        \
            const float4 dd = xd[g];                                                               \
            for (int i = 0; i < GM_ROWS; ++i) {                                                    \
                const int k = u * GM_ROWS + i;                                                     \
                const int sa = q4_dot_i8(wa[k], xl, xh);                                           \
                acc[i] += hma ? da[k] * dd.x * (float)sa + ma[k] * dd.y                            \
                              : da[k] * dd.x * ((float)sa - 8.f * dd.z);                           \
                if (two) {                                                                         \
                    const int sb = q4_dot_i8(wb[k], xl, xh);                                       \
                    bcc[i] += hmb ? db[k] * dd.x * (float)sb + mb[k] * dd.y                        \
                                  : db[k] * dd.x * ((float)sb - 8.f * dd.z);                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}
// x from global memory (quant_act or a producer wrote it) or from the prologue's __local copy.
GMQ_ACC(gmq_acc, __global)
GMQ_ACC(gmq_acc_l, __local)

// Grids as gm_*: (blocks * R, NS, n_tokens), local (R, NS, 1). x is the quant_act output.
__kernel void gmq_q4(__global const uint4 *W, __global const half *S, __global const half *M,
                     int hm, int rows, int K, __global const uint4 *xq, __global const float4 *xd,
                     __global float *y, int y_off, int ldy, int accumulate) {
    __local float red[GM_RED];
    const int R = get_local_size(0), t = get_global_id(2), G = K / 32;
    const int row0 = get_group_id(0) * R * GM_ROWS + get_local_id(0);
    float a[GM_ROWS], b[GM_ROWS], ss = 0.f;
    for (int i = 0; i < GM_ROWS; ++i) a[i] = b[i] = 0.f;
    gmq_acc(W, S, M, hm, W, S, M, hm, 0, rows, row0, R, G, get_local_id(1), get_local_size(1),
            xq + (long)t * 2 * G, xd + (long)t * G, a, b);
    gm_reduce(a, b, &ss, red);
    if (get_local_id(1) != 0) return;
    __global float *yt = y + y_off + (long)t * ldy;
    for (int i = 0; i < GM_ROWS; ++i) {
        const int row = row0 + i * R;
        if (row < rows) yt[row] = accumulate ? yt[row] + a[i] : a[i];
    }
}

__kernel void gmq3_q4(__global const uint4 *W0, __global const half *S0, __global const half *M0,
                      int hm0, int rows0, __global float *y0, __global const uint4 *W1,
                      __global const half *S1, __global const half *M1, int hm1, int rows1,
                      __global float *y1, __global const uint4 *W2, __global const half *S2,
                      __global const half *M2, int hm2, int rows2, __global float *y2, int K,
                      __global const uint4 *xq, __global const float4 *xd, int pro,
                      __global const float *xf, int use_norm, __global const float *nw, float eps,
                      __local uint4 *xql, __local float4 *xdl) {
    __local float red[GM_RED];
    __local float scr[QA_SCR(GM_WG)], am[GM_WG], sv[GM_WG];
    __local int sq[GM_WG];
    const int R = get_local_size(0), RB = R * GM_ROWS, G = K / 32;
    const int nb0 = (rows0 + RB - 1) / RB, nb1 = (rows1 + RB - 1) / RB;
    int bk = get_group_id(0);
    const int t = get_global_id(2);
    __global const uint4 *W = W0;
    __global const half *S = S0, *M = M0;
    int hm = hm0, rows = rows0;
    __global float *y = y0;
    if (bk >= nb0 + nb1) {
        bk -= nb0 + nb1; W = W2; S = S2; M = M2; hm = hm2; rows = rows2; y = y2;
    } else if (bk >= nb0) {
        bk -= nb0; W = W1; S = S1; M = M1; hm = hm1; rows = rows1; y = y1;
    }
    const int row0 = bk * RB + get_local_id(0);
    float a[GM_ROWS], b[GM_ROWS], ss = 0.f;
    for (int i = 0; i < GM_ROWS; ++i) a[i] = b[i] = 0.f;
    if (pro) {  // uniform: quantize (and norm) x here instead of a quant_act launch
        qa_prologue(xf + (long)t * K, use_norm, nw, eps, K, (__local uint *)xql, xdl, scr, am, sv, sq);
        gmq_acc_l(W, S, M, hm, W, S, M, hm, 0, rows, row0, R, G, get_local_id(1), get_local_size(1), xql,
                  xdl, a, b);
    } else {
        gmq_acc(W, S, M, hm, W, S, M, hm, 0, rows, row0, R, G, get_local_id(1), get_local_size(1),
                xq + (long)t * 2 * G, xd + (long)t * G, a, b);
    }
    gm_reduce(a, b, &ss, red);
    if (get_local_id(1) != 0) return;
    for (int i = 0; i < GM_ROWS; ++i) {
        const int row = row0 + i * R;
        if (row < rows) y[(long)t * rows + row] = a[i];
    }
}

__kernel void gmq_swiglu_q4(__global const uint4 *Wa, __global const half *Sa,
                            __global const half *Ma, int hma, __global const uint4 *Wb,
                            __global const half *Sb, __global const half *Mb, int hmb, int rows,
                            int K, __global const uint4 *xq, __global const float4 *xd,
                            __global float *y, int quant, __global uint *yq, __global float4 *yd,
                            int pro, __global const float *xf, int use_norm,
                            __global const float *nw, float eps, __local uint4 *xql,
                            __local float4 *xdl) {
    __local float red[GM_RED];
    __local float scr[QA_SCR(GM_WG)], am[GM_WG], sv[GM_WG];
    __local int sq[GM_WG];
    const int R = get_local_size(0), t = get_global_id(2), G = K / 32;
    const int row0 = get_group_id(0) * R * GM_ROWS + get_local_id(0);
    float a[GM_ROWS], b[GM_ROWS], ss = 0.f;
    for (int i = 0; i < GM_ROWS; ++i) a[i] = b[i] = 0.f;
    if (pro) {
        qa_prologue(xf + (long)t * K, use_norm, nw, eps, K, (__local uint *)xql, xdl, scr, am, sv, sq);
        gmq_acc_l(Wa, Sa, Ma, hma, Wb, Sb, Mb, hmb, 1, rows, row0, R, G, get_local_id(1), get_local_size(1),
                  xql, xdl, a, b);
    } else {
        gmq_acc(Wa, Sa, Ma, hma, Wb, Sb, Mb, hmb, 1, rows, row0, R, G, get_local_id(1),
                get_local_size(1), xq + (long)t * 2 * G, xd + (long)t * G, a, b);
    }
    gm_reduce(a, b, &ss, red);
    const int s = get_local_id(1);
    for (int i = 0; i < GM_ROWS; ++i) {
        const int row = row0 + i * R;
        a[i] = a[i] / (1.f + exp(-a[i])) * b[i];
        if (s == 0 && row < rows) y[(long)t * rows + row] = a[i];
    }
    if (!quant) return;  // uniform (kernel argument)
    barrier(CLK_LOCAL_MEM_FENCE);  // gm_reduce's last reads of red are done
    // Fused quantization of the output for the next product (host: GM_ROWS == 1, R % 32 == 0,
    // rows % 32 == 0): the R outputs of this block through __local, 8 per item (qa_quant8).
    if (s == 0) red[get_local_id(0)] = a[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    const int lid = get_local_id(0) + s * R;
    const int base = get_group_id(0) * R;  // first row of the block, a multiple of 32
    const bool ok = lid < R / 8 && base + 8 * lid < rows;
    float4 va = (float4)(0.f), vb = (float4)(0.f);
    if (ok) {
        va = vload4(2 * lid, red);
        vb = vload4(2 * lid + 1, red);
    }
    const int e = base + 8 * lid;
    qa_quant8(va, vb, ok, lid, e / 32, (e / 8) % 4, yq + (long)t * (rows / 4), yd + (long)t * (rows / 32), am,
              sv, sq);
}

// x ⊙ nw of one token (K floats that other work-groups of this launch wrote) quantized per
// 32-group into __local xql / xdl (quant_act's layout) by the whole work-group, without RMSNorm's
// 1 / RMS(x): the int8 values do not depend on it and d, Σv scale with it, so a product over this
// x times 1 / RMS(x) is the product over the normed x. Returns the item's part of Σx².
// Uniform control flow.
inline float tail_quant_x(__global const float *x, __global const float *nw, int K, __local uint *xql,
                          __local float4 *xdl, __local float *am, __local float *sv, __local int *sq) {
    const int lid = get_local_id(0);
    float ss = 0.f;
    for (int w0 = 0; w0 < K / 8; w0 += GM_WG) {
        const int w = w0 + lid;
        const bool ok = w < K / 8;
        float4 a = (float4)(0.f), b = (float4)(0.f);
        if (ok) {
            a = xg_load4(x + 8 * w);
            b = xg_load4(x + 8 * w + 4);
            ss += dot(a, a) + dot(b, b);
            a *= vload4(2 * w, nw);
            b *= vload4(2 * w + 1, nw);
        }
        qa_quant8_l(a, b, ok, lid, w / 4, w % 4, xql, xdl, am, sv, sq);
    }
    return ss;
}

// The whole work-group waits until the counter *c (other work-groups of this launch increment it)
// reaches need: one item polls with loads (not atomics: less contention; common.cl xg_poll_u),
// then the acquire side (XG_ACQUIRED) and a work-group barrier. Uniform control flow.
inline void tail_wait(__global const uint *c, uint need) {
    if (get_local_id(0) == 0) {
        while (xg_poll_u(c) < need) {
        }
        XG_ACQUIRED();
    }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
}

// ---- Decode attention as a stage of the layer tail (tuning tail_attn; one token) ----
// Block b = (chunk c = b % n_chunks, head block hb = b / n_chunks) of attn_dec's plan
// (attention.cl) in one GM_WG-item work-group of layer_tail_q4, with RoPE and the KV store fused
// as there: stage the chunk's K (transposed) and V rows as half with the block's (rotated, scaled)
// queries; the block whose chunk holds the token's position rotates k, stages k / v and (head
// block 0 of its kv head) stores them in the cache; scores, softmax numerators and V sums over
// __local; the chunk's partial (m, l, o) goes out through xg_*. The last block of a head block to
// take its ticket combines the n_chunks partials, writes the float output and quantizes it for
// stage 0 (Wo; quant_act's layout in yq / yd). Returns whether this block combined. wneed > 0 (the
// attention-last order): q / k / v are this launch's stage 3 outputs; the block stages the chunk's
// cached K / V first, then waits for *wctr >= wneed (stage 3 done).
// ah = (n_head, n_head_kv, head_dim, n_qblk); ac = (pos, chunk, n_chunks, blocks). __local:
// ks / vs chunk * head_dim halfs each (later the V-slice sums and the combine's slots: 32 * GM_WG
// bytes in ks, the quantized output: 16 * GM_WG bytes in vs), al ATTN_QB * (head_dim + chunk) + 2
// * ATTN_QB floats, red 2 * GM_WG floats. The host checks head_dim % 32 == 0, head_dim <= 256 and
// min(ATTN_QB, n_head / n_head_kv) * head_dim / 4 <= GM_WG (one V unit per item). q / k / v: read
// through xg_* (stage 3 of the same launch rewrites them for the next layer). Uniform control flow.
#define TAIL_VB 4
inline bool tail_attn(int b, __global const float *q, __global const float *kf, __global const float *vf,
                      __global half *kc, __global half *vc, __global const float *inv_freq, __global float *out,
                      __global float *part_o, __global float *part_ml, __global uint *tickets,
                      __global uint *yq, __global float4 *yd, int4 ah, int4 ac, float scale,
                      __global const uint *wctr, uint wneed, __local half *ks, __local half *vs,
                      __local float *al, __local float *red, __local float *am, __local float *sv,
                      __local int *sq, __local int *flag) {
    const int lid = get_local_id(0);
    const int n_head = ah.x, n_head_kv = ah.y, head_dim = ah.z, n_qblk = ah.w;
    const int pos = ac.x, chunk = ac.y, n_chunks = ac.z;
    const int nq = n_head / n_head_kv, c = b % n_chunks, hb = b / n_chunks, kvh = hb / n_qblk;
    const int h0 = kvh * nq + (hb % n_qblk) * ATTN_QB, nh = min(ATTN_QB, kvh * nq + nq - h0);
    const int start = c * chunk, len = min(start + chunk, pos + 1) - start;
    const int kv_dim = n_head_kv * head_dim, hd2 = head_dim / 2, lanes = head_dim / 4;
    const bool has_new = pos >= start && pos < start + len;
    __local float *qs = al, *sc = al + ATTN_QB * head_dim, *ml = sc + ATTN_QB * chunk;
    // The chunk's K and V; the new position's row is this launch's to write (below), not read.
    tail_stage_kv(kc, vc, (long)start * kv_dim + kvh * head_dim, kv_dim, len, head_dim, chunk,
                  has_new ? pos - start : -1, ks, vs, lid, GM_WG);
    if (wneed > 0) tail_wait(wctr, wneed);  // uniform: q / k / v from this launch's stage 3 (attention last)
    // The queries, rotated and scaled: item -> 4 dims of one head.
    __global const float *qt = q + (long)h0 * head_dim;
    for (int i = lid; i < nh * lanes; i += GM_WG) {
        const int d = 4 * (i % lanes);
        __global const float *qh = qt + (i / lanes) * head_dim;
        const float4 x = rope4(xg_load4(qh + d), xg_load4(qh + (d < hd2 ? d + hd2 : d - hd2)), d < hd2, (float)pos,
                               vload4(0, inv_freq + d % hd2));
        vstore4(x * scale, 0, qs + (i / lanes) * head_dim + d);
    }
    if (has_new) {  // uniform: rotate k, stage k and v, store them in the cache (head block 0)
        const long src = (long)kvh * head_dim, dst = (long)pos * kv_dim + kvh * head_dim;
        attn_new_kv(kf + src, vf + src, kc + dst, vc + dst, hb % n_qblk == 0, pos - start, pos, inv_freq, head_dim,
                    chunk, ks, vs, lid, GM_WG);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    attn_scores(qs, ks, sc, chunk, nh, len, head_dim, chunk, lid, GM_WG);
    attn_softmax(sc, chunk, nh, len, red, red + GM_WG, ml, lid, GM_WG);  // ml read after the V pass's barrier
    // V: item -> unit (head h, 4-dim lane ln) x position slice sl; slices 1.. hand their sums to
    // slice 0 through p1 (the K staging, free now).
    const int units = nh * lanes, nsl = GM_WG / units, un = lid % units, sl = lid / units;
    const int h = un / lanes, ln = un % lanes;
    __local float *p1 = (__local float *)ks;
    float4 o = (float4)(0.f);
    if (sl < nsl)
        for (int j = sl; j < len; j += nsl) o += sc[h * chunk + j] * vload_half4(ln, vs + j * head_dim);
    if (sl > 0 && sl < nsl) vstore4(o, (sl - 1) * units + un, p1);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (sl == 0) {
        for (int e = 1; e < nsl; ++e) o += vload4((e - 1) * units + un, p1);
        xg_store4(part_o + ((long)(h0 + h) * n_chunks + c) * head_dim + 4 * ln, o);
    }
    if (lid < nh) {
        __global float *pm = part_ml + 2 * ((long)(h0 + lid) * n_chunks + c);
        xg_store(pm, ml[2 * lid]);
        xg_store(pm + 1, ml[2 * lid + 1]);
    }
    // The head block's ticket (threadfence-reduction pattern): the last of its n_chunks blocks
    // combines, and resets the ticket for the next launch.
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        const int last = xg_ticket_u(tickets + hb) == (uint)n_chunks - 1;
        if (last) atomic_xchg(tickets + hb, 0u);
        *flag = last;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const bool comb = *flag;
    if (comb) {  // uniform
        XG_ACQUIRED();
        // Combine: unit x cs chunk slices, each a running (M, L, o) over its chunks (TAIL_VB loads in
        // flight), merged through 8-float slots in ks.
        const int cs = GM_WG / units, csl = lid / units;
        float M = -INFINITY, L = 0.f;
        o = (float4)(0.f);
        const long pb = (long)(h0 + h) * n_chunks;
        if (csl < cs)
            for (int c0 = csl; c0 < n_chunks; c0 += TAIL_VB * cs) {
                float mc[TAIL_VB], lc[TAIL_VB];
                float4 pv[TAIL_VB];
                for (int u = 0; u < TAIL_VB; ++u) {
                    const int cc = min(c0 + u * cs, n_chunks - 1);
                    mc[u] = xg_load(part_ml + 2 * (pb + cc));
                    lc[u] = xg_load(part_ml + 2 * (pb + cc) + 1);
                    pv[u] = xg_load4(part_o + (pb + cc) * head_dim + 4 * ln);
                }
                for (int u = 0; u < TAIL_VB; ++u) {
                    float fa, fb;
                    if (c0 + u * cs < n_chunks && online_step(&M, &L, mc[u], lc[u], &fa, &fb)) o = o * fa + pv[u] * fb;
                }
            }
        __local float *slot = p1 + 8 * lid;
        if (cs > 1 && csl < cs) {
            slot[0] = M;
            slot[1] = L;
            vstore4(o, 1, slot);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (csl == 0) {
            for (int s2 = 1; s2 < cs; ++s2) {
                __local const float *o2 = p1 + 8 * (s2 * units + un);
                float fa, fb;
                if (online_step(&M, &L, o2[0], o2[1], &fa, &fb)) o = o * fa + vload4(1, o2) * fb;
            }
            o /= L;
            vstore4(o, ln, out + (long)(h0 + h) * head_dim);
            vstore4(o, ln, qs + h * head_dim);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // The block's nh * head_dim outputs quantized (8 per item) into vs, then out to yq / yd.
        __local uint *xq = (__local uint *)vs;
        __local float4 *xd = (__local float4 *)vs + GM_WG / 2;
        const int nv = nh * head_dim / 8;
        const bool ok = lid < nv;
        float4 va = (float4)(0.f), vb = (float4)(0.f);
        if (ok) {
            va = vload4(2 * lid, qs);
            vb = vload4(2 * lid + 1, qs);
        }
        qa_quant8_l(va, vb, ok, lid, lid / 4, lid % 4, xq, xd, am, sv, sq);
        const int e0 = h0 * head_dim;  // a multiple of 32
        for (int i = lid; i < nv * 2; i += GM_WG) xg_store_u(yq + e0 / 4 + i, xq[i]);
        for (int i = lid; i < nv / 4; i += GM_WG) xg_store4((__global float *)(yd + e0 / 32 + i), xd[i]);
    }
    return comb;
}

// ---- Fused layer tail (tuning fuse_tail; one decoded token) ----
// A decoder layer's products after attention and the next layer's q / k / v in one launch:
//   stage A  o = attention(q, k, v, cache)    (tail_attn, ac.w > 0 blocks; else an earlier launch)
//   stage 0  x += Wo o                        (o: the quantized attention output, xq0 / xd0)
//   stage 1  h = silu(Wg n2(x)) * (Wu n2(x)), quantized per 32-group into hq / hd
//   stage 2  x += Wd h
//   stage 3  q, k, v = (Wq, Wk, Wv) n1(x)     (the next layer's; nb.w == 0: none)
// Stage st runs the blocks of the matching gmq_* kernel: R = GM_WG / S rows x S K-slices
// (S = sl[st]; GM_ROWS == 1). The launch has a fixed number of work-groups (about what the device
// holds at once); each takes blocks in stage order from a ticket (ctr[0]), and a block of stage
// st > 0 starts once every block of stage st - 1 has published its results (ctr[st] counts them;
// xg_* in common.cl carries the data). No deadlock whatever the number of work-groups or their
// scheduling: a work-group only ever waits for blocks with smaller tickets, which work-groups
// already running hold, and those wait only for smaller tickets again (the argument of decoupled
// look-back scans; it needs a running work-group to keep running, as GPUs do). Four launches
// become one, and a stage's blocks start as soon as the previous stage ends.
// Stage A's blocks take the first tickets and wait for nothing; stage 0 waits for its combining
// blocks (ctr[5], one per head block; ctr[8..] are the head blocks' tickets). attn_last: stage A
// is instead the next layer's attention, after stage 3 (tickets nP..; q / k / v from stage 3, the
// next layer's cache, its output quantized into xq1 / xd1 for the next launch's stage 0): its
// blocks stage their cached K / V while stage 3 runs, then wait for it; stage 0 waits for nothing.
// The counters are zero between launches: the last claim resets ctr[0], the last block of the
// last stage (attn_last: the last combining block) ctr[1..5], each head block's last block its
// ticket. Fixed costs sit on each stage's critical path, so the order of a block is: claim,
// choose its operands, wait, read x and its residual, the products, the next claim (overlapping
// the epilogue), the slice sums, stores, publish. Stages 1 and 3 quantize x ⊙ norm weight
// without waiting for RMS(x) and scale their sums by 1 / RMS(x) at the end (tail_quant_x).
#if GM_ROWS == 1
__kernel __attribute__((reqd_work_group_size(GM_WG, 1, 1))) void layer_tail_q4(
    __global uint *ctr, int4 sl, int4 nb, int n_embd, int n_ff, int q_dim, float eps, __global float *x,
    __global uint4 *xq0, __global float4 *xd0,
    __global const uint4 *Wo, __global const half *So, __global const half *Mo, int hmo,
    __global const uint4 *Wg, __global const half *Sg, __global const half *Mg, int hmg,
    __global const uint4 *Wu, __global const half *Su, __global const half *Mu, int hmu,
    __global const float *n2, __global uint *hq, __global float4 *hd,
    __global const uint4 *Wd, __global const half *Sd, __global const half *Md, int hmd,
    __global const uint4 *Wq, __global const half *Sq, __global const half *Mq, int hmq, int rq,
    __global float *q, __global const uint4 *Wk, __global const half *Sk, __global const half *Mk,
    int hmk, int rk, __global float *k, __global const uint4 *Wv, __global const half *Sv,
    __global const half *Mv, int hmv, int rv, __global float *v, __global const float *n1,
    __global half *kc, __global half *vc, __global const float *inv_freq, __global float *att,
    __global float *part_o, __global float *part_ml, int4 ah, int4 ac, float scale,
    __global uint4 *xq1, __global float4 *xd1, int attn_last,
    __local uint4 *xl, __local float4 *dl, __local float *al) {
    __local float red[2 * GM_WG];
    __local float scr[QA_SCR(GM_WG)], am[GM_WG], sv[GM_WG];
    __local int sq[GM_WG];
    __local int claim, flag;
    const int lid = get_local_id(0);
    const int nA = ac.w, nP = nb.x + nb.y + nb.z + nb.w, total = nA + nP, last = nb.w > 0 ? 3 : 2;
    const int a0 = attn_last ? nP : 0;  // the attention stage's first ticket
    if (lid == 0) claim = (int)atomic_inc(ctr);
    for (;;) {
        barrier(CLK_LOCAL_MEM_FENCE);
        const int t = claim;
        barrier(CLK_LOCAL_MEM_FENCE);  // claim is rewritten at the end of the block
        if (t >= total) {  // uniform; every work-group makes exactly one such claim
            if (lid == 0 && t == total + (int)get_num_groups(0) - 1) atomic_xchg(ctr, 0u);
#if TAIL_KVPF
            // Out of blocks while the last ones run: the next layer's cached K / V into L2 for its
            // attention launch (without an attention stage, kc / vc are that layer's cache and ac.x
            // the 128-byte lines of each to fetch; 0: none), the first groups to leave taking them.
            if (nA == 0)
                for (int i = (t - total) * GM_WG + lid; i < 2 * ac.x; i += (int)get_num_groups(0) * GM_WG)
                    l2_prefetch(i < ac.x ? kc + (long)i * 64 : vc + (long)(i - ac.x) * 64);
#endif
            return;
        }
        // Stage A (4 here): an attention block; the combining ones count in ctr[5]. (One linear
        // sequence of uniform sections rather than an if / else: PoCL 3.1's kernel compiler breaks
        // the launch's memory with the barriers of both halves of an if / else in this loop.)
        int st = 4, b = t - a0;
        if (t < a0 || t >= a0 + nA) {
            b = t - (attn_last ? 0 : nA);
            st = 0;
            if (b >= nb.x) {
                b -= nb.x;
                st = 1;
                if (b >= nb.y) {
                    b -= nb.y;
                    st = 2;
                    if (b >= nb.z) {
                        b -= nb.z;
                        st = 3;
                    }
                }
            }
        }
        bool comb = false;
#if TAIL_ATTN  // (compiled in only where used: PoCL 3.1 miscompiles the launch with it, see MALI.md)
        if (st == 4)
            comb = tail_attn(b, q, k, v, kc, vc, inv_freq, att, part_o, part_ml, ctr + 8, (__global uint *)xq1, xd1, ah,
                             ac, scale, ctr + 4, attn_last ? (uint)nb.w : 0u, (__local half *)xl, (__local half *)dl,
                             al, red, am, sv, sq, &flag);
#endif
        // The block's product: matrix A (stage 1: and B, the up projection), its rows and 32-groups;
        // the item's row and K-slice.
        const int S = st == 1 ? sl.y : st == 2 ? sl.z : st == 3 ? sl.w : sl.x;
        const int R = GM_WG / S, lr = lid % R, s = lid / R;
        __global const uint4 *WA = Wo;
        __global const half *SA = So, *MA = Mo;
        int hma = hmo, rows = n_embd, G = q_dim / 32, row = b * R + lr;
        __global float *y = q;  // stage 3's output (q, k or v)
        if (st == 1) {
            WA = Wg; SA = Sg; MA = Mg; hma = hmg; rows = n_ff; G = n_embd / 32;
        } else if (st == 2) {
            WA = Wd; SA = Sd; MA = Md; hma = hmd; G = n_ff / 32;
        } else if (st == 3) {
            const int bq = (rq + R - 1) / R, bk = (rk + R - 1) / R;
            WA = Wq; SA = Sq; MA = Mq; hma = hmq; rows = rq; G = n_embd / 32;
            if (b >= bq + bk) {
                row -= (bq + bk) * R;
                WA = Wv; SA = Sv; MA = Mv; hma = hmv; rows = rv; y = v;
            } else if (b >= bq) {
                row -= bq * R;
                WA = Wk; SA = Sk; MA = Mk; hma = hmk; rows = rk; y = k;
            }
        }
        // Uniform: wait for the previous stage (stage 0: attention's combines, unless attn_last).
        if (st < 4 && (st > 0 || (nA > 0 && !attn_last)))
            tail_wait(ctr + (st == 0 ? 5 : st), (uint)(st == 0 ? ah.y * ah.w : st == 1 ? nb.x : st == 2 ? nb.y : nb.z));
        float a = 0.f, c = 0.f;
        // The residual of stages 0 and 2, read before the products (its latency hidden by theirs).
        const float xr = (st == 0 || st == 2) && s == 0 && row < rows ? xg_load(x + row) : 0.f;
        // Inputs: stage 0 the quantized attention output (this launch's attention stage or an
        // earlier launch wrote it), 1 and 3 x times the norm weight, quantized here (the outputs
        // are scaled by 1 / RMS(x) below), 2 h; all into __local.
        if (st == 1 || st == 3)
            scr[lid] = tail_quant_x(x, st == 1 ? n2 : n1, n_embd, (__local uint *)xl, dl, am, sv, sq);
        if (st == 0 || st == 2) {
            const int K = st == 0 ? q_dim : n_ff;
            __global const uint *iq = st == 0 ? (__global const uint *)xq0 : (__global const uint *)hq;
            __global const float *id = st == 0 ? (__global const float *)xd0 : (__global const float *)hd;
            for (int i = lid; i < K / 16; i += GM_WG) xl[i] = xg_load_u4(iq + 4 * i);
            for (int i = lid; i < K / 32; i += GM_WG) dl[i] = xg_load4(id + 4 * i);
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (st == 1)
            gmq_acc_l(WA, SA, MA, hma, Wu, Su, Mu, hmu, 1, rows, row, R, G, s, S, xl, dl, &a, &c);
        else if (st < 4)
            gmq_acc_l(WA, SA, MA, hma, WA, SA, MA, hma, 0, rows, row, R, G, s, S, xl, dl, &a, &c);
        // The next ticket, taken now that this block waits for nothing more: its latency overlaps
        // the block's last steps. (Deadlock-free still: the block holding the smallest unfinished
        // ticket is always being worked on.)
        uint next = 0;
        if (lid == 0) next = atomic_inc(ctr);
        // The S slice sums of each row, to the items of slice 0; Σx² of stages 1 and 3 (scr) in 16
        // parts, then the whole.
        red[s * R + lr] = a;
        red[GM_WG + s * R + lr] = c;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (s == 0)
            for (int j = 1; j < S; ++j) {
                a += red[j * R + lr];
                c += red[GM_WG + j * R + lr];
            }
        const bool normed = st == 1 || st == 3;
        if (normed && lid < 16) {
            float p = 0.f;
            for (int j = 0; j < GM_WG / 16; ++j) p += scr[lid * (GM_WG / 16) + j];
            scr[GM_WG + lid] = p;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (normed) {
            float tot = 0.f;
            for (int j = 0; j < 16; ++j) tot += scr[GM_WG + j];
            const float inv = rsqrt(tot / (float)n_embd + eps);
            a *= inv;
            c *= inv;
        }
        if (st == 1) {  // uniform: h of the block's R rows (R % 32 == 0), quantized via __local
            if (s == 0) red[lr] = a / (1.f + exp(-a)) * c;
            barrier(CLK_LOCAL_MEM_FENCE);
            const bool ok = lid < R / 8 && b * R + 8 * lid < n_ff;
            float4 va = (float4)(0.f), vb = (float4)(0.f);
            if (ok) {
                va = vload4(2 * lid, red);
                vb = vload4(2 * lid + 1, red);
            }
            qa_quant8_l(va, vb, ok, lid, lid / 4, lid % 4, (__local uint *)xl, dl, am, sv, sq);
            if (lid < R / 4 && b * R + 4 * lid < n_ff) xg_store_u(hq + b * (R / 4) + lid, ((__local uint *)xl)[lid]);
            if (lid < R / 32 && b * R + 32 * lid < n_ff) xg_store4((__global float *)(hd + b * (R / 32) + lid), dl[lid]);
        } else if (st < 4 && s == 0 && row < rows) {
            if (st == 3) xg_store(y + row, a);  // read by the next launch's attention stage
            else xg_store(x + row, xr + a);
        }
        const int cnt = st < 4 ? 1 + st : comb ? 5 : 0;  // the counter this block increments (0: none)
        // Publish, the pattern of CUDA's grid sync: every item's stores, the work-group barrier, then
        // one item's release and the block's count (xg_publish_u).
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
        if (lid == 0) {
            if (cnt) {
                const uint done = xg_publish_u(ctr + cnt);
                const int nl = last == 3 ? nb.w : nb.z;
                if (attn_last ? cnt == 5 && done == (uint)(ah.y * ah.w) - 1 : cnt == 1 + last && done == (uint)nl - 1)
                    for (int i = 1; i <= 5; ++i) atomic_xchg(ctr + i, 0u);
            }
            claim = (int)next;
        }
    }
}
#endif
