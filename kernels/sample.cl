// Token selection on the device: argmax, the greedy token of the logits, so that a greedy decode
// step reads back one index instead of n_vocab floats. The rule is the host sampler's
// (src/engine/sampler.cpp): the first maximum, NaN never wins, index 0 when every value is NaN.

// Whether (v, i) comes before (w, j) in the order argmax picks from: the larger value, on equal
// values the lower index; NaN after every number, NaNs among themselves by index. A total order,
// so every reduction tree picks the element the host's left-to-right scan picks.
inline bool am_before(float v, int i, float w, int j) {
    if (isnan(v)) return isnan(w) && i < j;
    return isnan(w) || v > w || (v == w && i < j);
}

// The first of the work-group's pairs (*v, *i) in am_before order, for every item, through lv / li
// (ARGMAX_WG each). Barriers: uniform control flow only.
inline void am_reduce(float *v, int *i, __local float *lv, __local int *li) {
    const int lid = get_local_id(0);
    lv[lid] = *v;
    li[lid] = *i;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ARGMAX_WG / 2; s > 0; s >>= 1) {
        if (lid < s && am_before(lv[lid + s], li[lid + s], lv[lid], li[lid])) {
            lv[lid] = lv[lid + s];
            li[lid] = li[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    *v = lv[0];
    *i = li[0];
    barrier(CLK_LOCAL_MEM_FENCE);  // lv / li reusable
}

// argmax of x[0..n) into out[out_i], n >= 1, in one launch of G work-groups (a group without
// elements reports (NaN, INT_MAX), which every element beats). Item g scans x[g], x[g + G * ARGMAX_WG], ... (coalesced), its work-group
// reduces the items' pairs. With G == 1 that is the result; otherwise each work-group stores its
// pair (value bits, index) in state[2 + 2 g], state[3 + 2 g] and takes a ticket (state[0]); the
// last of the G combines the G pairs, writes out[out_i] and resets the ticket to zero for the
// next launch. The pairs cross work-groups through atomics; nothing waits for another work-group
// (safe without forward-progress guarantees between work-groups, as on a Mali).
// state: [0] ticket, zero between launches; [1] the index (Backend::argmax: out = state, out_i =
// 1; argmax_to: a session's token buffer); [2 + 2 g, 3 + 2 g] group g's pair.
// Grid (G * ARGMAX_WG), local (ARGMAX_WG).
__kernel __attribute__((reqd_work_group_size(ARGMAX_WG, 1, 1))) void argmax(
    __global const float *x, int n, __global int *state, __global int *out, int out_i) {
    __local float lv[ARGMAX_WG];
    __local int li[ARGMAX_WG];
    const int lid = get_local_id(0), g = get_group_id(0), ng = get_num_groups(0);
    float bv = NAN;
    int bi = INT_MAX;  // no element yet: after every element, NaN ones included
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        const float v = x[i];
        if (am_before(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    am_reduce(&bv, &bi, lv, li);
    if (ng == 1) {  // uniform
        if (lid == 0) out[out_i] = bi;
        return;
    }
    if (lid == 0) {
        atomic_xchg(state + 2 + 2 * g, as_int(bv));  // read by another work-group of this launch
        atomic_xchg(state + 3 + 2 * g, bi);
        mem_fence(CLK_GLOBAL_MEM_FENCE);  // the pair before the ticket
        const int last = atomic_inc(state) == ng - 1;
        if (last) atomic_xchg(state, 0);  // every group has counted: ready for the next launch
        li[0] = last;                     // to the whole group (li is free after am_reduce)
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!li[0]) return;  // uniform
    barrier(CLK_LOCAL_MEM_FENCE);  // li free again
    mem_fence(CLK_GLOBAL_MEM_FENCE);  // the others' pairs after the ticket
    bv = NAN;
    bi = INT_MAX;
    for (int j = lid; j < ng; j += ARGMAX_WG) {
        const float v = as_float(atomic_or(state + 2 + 2 * j, 0));
        const int i = atomic_or(state + 3 + 2 * j, 0);
        if (am_before(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    am_reduce(&bv, &bi, lv, li);
    if (lid == 0) out[out_i] = bi;
}
