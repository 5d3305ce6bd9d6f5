// The OpenCL implementation of Backend (declared here so the ops, the memory code and the bench
// helpers in opencl_backend.h can share it). Device buffers: activations float, weights in the
// run formats of model/tensor.h (split by rows where a tensor exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE),
// KV cache half. Ops enqueue without host synchronisation; read() blocks.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/opencl/cl_common.h"
#include "backend/opencl/cl_program.h"
#include "backend/opencl/opencl_backend.h"

namespace edgellm {
namespace ocl {

// Owning cl_mem handle.
struct Mem {
    cl_mem m = nullptr;
    Mem() = default;
    explicit Mem(cl_mem x) : m(x) {}
    ~Mem() { if (m) clReleaseMemObject(m); }
    Mem(const Mem &) = delete;
    Mem &operator=(const Mem &) = delete;
    Mem(Mem &&o) noexcept : m(o.m) { o.m = nullptr; }
    Mem &operator=(Mem &&o) noexcept { std::swap(m, o.m); return *this; }
};

struct ClBuffer : Buffer {
    Mem mem;
    // token_read_begin's read of a device-held token id: the completion event, and the pinned
    // host memory it lands in (a small CL_MEM_ALLOC_HOST_PTR buffer mapped once: a read into
    // pageable memory can wait on the host thread, which is busy issuing the next step).
    cl_event read_ev = nullptr;
    Mem pin;
    cl_int *pin_ptr = nullptr;
    cl_command_queue pin_q = nullptr;  // retained, for the unmap
    ~ClBuffer() override;
};

struct WeightChunk {
    int64_t row0 = 0, rows = 0;
    Mem data, scales, mins;
};

struct ClWeight : Weight {
    bool has_mins = false;
    bool gm = false;  // Q4/Q8 data, scales, mins re-laid group-major per chunk ([g][chunk rows])
    std::vector<WeightChunk> chunks;  // one unless the tensor exceeds the max allocation
};

struct ClKv : KvCache {
    std::vector<Mem> k, v;  // per layer, (n_ctx, kv_dim) half
};

class ClBackend : public Backend {
public:
    explicit ClBackend(const OpenClBackendOptions &opt);
    ~ClBackend() override;

    const char *name() const override { return "opencl"; }
    std::string device_name() const override { return dev_name_; }

    std::unique_ptr<Weight> upload_matrix(QTensor &&t) override;
    std::unique_ptr<Weight> upload_vector(std::vector<float> &&v) override;
    std::unique_ptr<Buffer> alloc(size_t n_floats) override;
    std::unique_ptr<KvCache> alloc_kv(int n_layer, int n_ctx, int kv_dim) override;
    void write(Buffer &dst, const float *src, size_t n, size_t offset) override;
    void read(const Buffer &src, float *dst, size_t n, size_t offset) override;
    void finish() override;

    void embed(Buffer &out, const Weight &table, const int32_t *tokens, int n) override;
    void rms_norm(Buffer &out, const Buffer &x, const Weight &w, int n, int dim, float eps) override;
    void matmul(Buffer &y, const Weight &W, const Buffer &x, int n, bool accumulate,
                size_t x_offset, size_t y_offset) override;
    void matmul_qkv(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                    const Weight &Wv, const Buffer &x, int n) override;
    void matmul_swiglu(Buffer &out, Buffer &scratch, const Weight &Wg, const Weight &Wu,
                       const Buffer &x, int n) override;
    void norm_matmul(Buffer &y, const Weight &W, const Buffer &x, size_t x_off, const Weight &norm, float eps,
                     Buffer &xn) override;
    void norm_matmul_qkv(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                         const Weight &Wv, const Buffer &x, const Weight &norm, float eps, Buffer &xn,
                         int n) override;
    void norm_matmul_swiglu(Buffer &out, Buffer &scratch, const Weight &Wg, const Weight &Wu,
                            const Buffer &x, const Weight &norm, float eps, Buffer &xn,
                            int n) override;
    void rope_store_kv(Buffer &q, Buffer &k, const Buffer &v, KvCache &cache, int layer, int pos0,
                       int n, const RopeParams &p) override;
    void attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0, int n,
                   const AttentionParams &p) override;
    void rope_attention(Buffer &out, Buffer &q, Buffer &k, const Buffer &v, KvCache &cache, int layer,
                        int pos0, int n, const RopeParams &rp, const AttentionParams &ap) override;
    void layer_tail(Buffer &x, const Buffer &att, const LayerRefs &L, const LayerRefs *next, Buffer &q,
                    Buffer &k, Buffer &v, Buffer &h, Buffer &up, Buffer &xn, int n, float eps) override;
    void attention_layer_tail(Buffer &x, Buffer &att, Buffer &q, Buffer &k, Buffer &v, KvCache &cache, int layer,
                              int pos0, const RopeParams &rp, const AttentionParams &ap, const LayerRefs &L,
                              const LayerRefs *next, Buffer &h, Buffer &up, Buffer &xn, int n, float eps) override;
    void swiglu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n) override;
    void add(Buffer &y, const Buffer &x, size_t n) override;
    void copy(Buffer &dst, const Buffer &src, size_t n, size_t dst_offset, size_t src_offset) override;
    int32_t argmax(const Buffer &x, size_t n) override;
    bool pipelined_tokens(const Weight &table) const override;
    void argmax_to(Buffer &tok, const Buffer &x, size_t n) override;
    void embed_from(Buffer &out, const Weight &table, const Buffer &tok) override;
    void token_read_begin(Buffer &tok) override;
    int32_t token_read_end(Buffer &tok, size_t n) override;

    // Bench / diagnostics (opencl_backend.h).
    std::vector<OpenClKernelTime> take_profile();
    uint64_t launches() const { return launches_; }
    double measure_bandwidth_gbs();
    double measure_fp32_gflops();
    const Tuning &tuning() const { return tune_; }

private:
    cl_kernel kernel(const char *name);
    template <typename... A> void args(cl_kernel k, const A &...a) { args_from(k, 0, a...); }
    // Sets arguments first, first + 1, ... of k.
    template <typename... A> void args_from(cl_kernel k, cl_uint first, const A &...a);
    void launch(const char *name, cl_kernel k, int dims, const size_t *gws, const size_t *lws);
    // One launch of dequant.cl's embed kernel for table chunk c: n tokens whose ids are ids[0..n),
    // or (ids null, n 1) the chunk row tok0; rows into out from float out_off.
    void launch_embed(const ClWeight &W, const WeightChunk &c, cl_mem ids, cl_int tok0, int n, Buffer &out,
                      size_t out_off);
    // The argmax kernel over x[0..n) with its result in out[out_i] (out null: argmax_'s slot 1).
    void enqueue_argmax(const Buffer &x, size_t n, cl_mem out, int out_i);
    cl_mem make_buffer(size_t bytes, const void *src, cl_mem_flags flags);
    // A buffer filled through a mapped write: fill(p) writes `bytes` bytes at p.
    template <typename Fill> cl_mem make_buffer_fill(size_t bytes, Fill fill, cl_mem_flags flags);
    // Work-group shape of a group-major product over `rows` rows of G groups: S K-slices (a power
    // of two, grown until row lanes x S >= gm_items; `split` instead where 0 < split <= G, gm_wg)
    // x R = gm_wg / S row lanes; a block covers RB = R * gm_rows rows.
    struct GmShape {
        size_t S, R, RB;
        size_t blocks(int64_t rows) const { return ((size_t)rows + RB - 1) / RB; }
    };
    GmShape gm_shape(int64_t rows, int64_t G, int split = 0) const;
    // Launches gm kernel k over `blocks` blocks of shape g for n tokens.
    void gm_launch(const char *name, cl_kernel k, const GmShape &g, size_t blocks, int n);
    // split: K-slices (0: gm_shape's).
    void gm_gemv(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                 bool accumulate, size_t x_off, size_t y_off, int split = 0);
    void ensure(Mem &m, size_t &cap, size_t bytes);
    // The attention op; with rope (one token, attn_dec), RoPE and the KV-cache store of k / v
    // happen inside the attention launch.
    struct FusedRope {
        const Buffer *k, *v;
        const RopeParams *p;
    };
    // The argument checks of rope_store_kv (also for RoPE fused into attention).
    void check_rope(const Buffer &q, const Buffer &k, const Buffer &v, const ClKv &kv, int layer, int pos0,
                    int n, const RopeParams &p);
    void attention_impl(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0, int n,
                        const AttentionParams &p, const FusedRope *rope);
    // Whether attn_dec serves this head size: 16-byte K/V pieces (head_dim % 8 == 0) staged in
    // __local, >= 8 positions of them (below 2048 halfs its other __local arrays do not fit either).
    bool attn_dec_ok(int head_dim) const {
        return tune_.attn_dec && head_dim % 8 == 0 && attn_kv_ >= 2048 && attn_kv_ >= 8 * head_dim;
    }
    // Whether W takes the int8-activation products (tuning qa, group-major Q4).
    bool qa_ok(const ClWeight &W) const { return tune_.qa && W.gm && W.type == DType::Q4; }
    // quant_act: x (n, K) at x_off, optionally RMS-normed with `norm`, into qa_q_ / qa_d_.
    void quant_act(const Buffer &x, size_t x_off, int n, int K, const Weight *norm, float eps);
    void ensure_qa(int set, int n, int K);
    // Whether a product over K inputs quantizes x in its own prologue (__local: 1.5 K bytes).
    bool qa_prologue_ok(int K) const { return tune_.qa_pro && (size_t)K * 3 / 2 <= (size_t)tune_.qa_pro_bytes; }
    // Sets __local buffer arguments first, first + 1 to the given byte sizes.
    void local_args(cl_kernel k, cl_uint first, size_t b0, size_t b1) {
        check(clSetKernelArg(k, first, b0, nullptr), "clSetKernelArg(local)");
        check(clSetKernelArg(k, first + 1, b1, nullptr), "clSetKernelArg(local)");
    }
    // Records that qa set `set` now holds `x` (n, K) at off, quantized.
    void set_qa_pending(const Buffer &x, size_t off, int n, int K, int set = 1);
    void gemv(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
              bool accumulate, size_t x_off, size_t y_off);
    void gemm(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
              bool accumulate, size_t x_off, size_t y_off);
    // Fused GEMV launches; norm == nullptr: no RMSNorm folded in. False when not fusable.
    bool try_gemv3(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                   const Weight &Wv, const Buffer &x, const Weight *norm, float eps, int n);
    bool try_gemv_swiglu(Buffer &out, const Weight &Wg, const Weight &Wu, const Buffer &x,
                         const Weight *norm, float eps, int n);
    // The attention of attention_layer_tail, for its fused form.
    struct TailAttn {
        KvCache *cache;
        int layer, pos0;
        const RopeParams *rp;
        const AttentionParams *ap;
        bool last = false;  // the next layer's attention as the last stage (tail_attn 2), else the first
    };
    // The next layer's cached K / V rows that a layer tail launch without an attention stage
    // prefetches into L2 (tail_kvpf).
    struct KvPrefetch {
        cl_mem k = nullptr, v = nullptr;
        int lines = 0;  // 128-byte lines of each
    };
    // layer_tail as one layer_tail_q4 launch (one token), with ta also an attention stage (RoPE, KV
    // store, attention into att): the layer's own as the first stage, or (ta->last) layer ta->layer's
    // after the next q / k / v, its quantized output left in qa_pending_'s set; without ta, pf's
    // rows are prefetched as the launch ends; false when the shapes or formats do not allow it (the
    // caller then runs the separate ops).
    bool try_layer_tail(Buffer &x, const Buffer &att, const LayerRefs &L, const LayerRefs *next,
                        Buffer &q, Buffer &k, Buffer &v, float eps, const TailAttn *ta = nullptr,
                        const KvPrefetch *pf = nullptr);
    cl_mem inv_freq_buffer(const std::vector<float> &f);
    void build_programs();

    OpenClBackendOptions opt_;
    Logger log_;
    cl_device_id dev_ = nullptr;
    cl_context ctx_ = nullptr;
    cl_command_queue queue_ = nullptr;
    std::string dev_name_, dev_key_;
    size_t max_alloc_ = 0;
    int attn_kv_ = 0;  // attn_dec's K / V staging (halfs each, ATTN_KV); < 2048: no attn_dec
    size_t local_mem_ = 0;      // CL_DEVICE_LOCAL_MEM_SIZE
    size_t cache_bytes_ = 0;    // CL_DEVICE_GLOBAL_MEM_CACHE_SIZE (the L2 on GPUs)
    cl_uint compute_units_ = 1;
    cl_uint nv_cc_major_ = 0;   // NVIDIA compute capability (cl_nv_device_attribute_query); 0 elsewhere
    Tuning tune_;
    bool profiling_ = false;
    std::string defines_;
    std::vector<cl_program> programs_;
    std::map<std::string, cl_kernel> kernels_;
    std::recursive_mutex mu_;  // ops may come from sessions on different threads
    uint64_t launches_ = 0;
    int since_flush_ = 0;  // launches since the last clFlush (tuning flush_every)
    std::vector<std::pair<std::string, cl_event>> events_;
    std::map<std::string, OpenClKernelTime> profile_;

    Mem dummy_;                            // bound where a format has no scales/mins
    Mem tile_; size_t tile_cap_ = 0;       // dequantized weight tile (prefill GEMM)
    Mem blas_tmp_; size_t blas_tmp_cap_ = 0;
    Mem tokens_; size_t tokens_cap_ = 0;
    Mem xalign_; size_t xalign_cap_ = 0;   // aligned copy of an unaligned GEMV input
    Mem part_o_; size_t part_o_cap_ = 0;   // attention partials
    Mem part_ml_; size_t part_ml_cap_ = 0;
    Mem tickets_; size_t tickets_cap_ = 0; // attn_dec's per-(token, head block) counters, kept zero
    Mem tail_ctr_; size_t tail_ctr_n_ = 0; // layer_tail_q4's ticket, stage and head-block counters, kept zero
    Mem tail_hq_, tail_hd_; size_t tail_hq_cap_ = 0, tail_hd_cap_ = 0;  // its quantized h
    Mem argmax_;                           // argmax's state (sample.cl): ticket (kept zero), result, pairs
    std::vector<float> inv_freq_host_;
    // int8 activations and their per-group (d, Σv, Σq): set 0 written by quant_act, set 1 by the
    // fused producers (gmq_swiglu_q4, attn_dec, attn_reduce_q), which read set 0, sets 1 and 2 in
    // turn by the layer tail's attention-last stage (its stage 0 reads the other); qa_cur_ is the
    // set the products read. qa_pending_: a producer's quantized output not yet claimed by a product.
    Mem qa_q_[3], qa_d_[3];
    size_t qa_q_cap_[3] = {0, 0, 0}, qa_d_cap_[3] = {0, 0, 0};
    int qa_cur_ = 0;
    struct QaPending {
        cl_mem buf = nullptr;  // the float buffer whose contents qa set `set` holds, quantized
        size_t off = 0;
        int n = 0, K = 0;
        uint64_t mods = 0;     // mods_ right after the producer: valid while nothing else ran
        int set = 1;           // the qa set it is in
    } qa_pending_;
    // The attention a layer tail launch ran ahead for the next layer (tail_attn 2): valid while
    // nothing else ran (mods) and the next call names the same layer, position, cache and buffers.
    struct AttnAhead {
        const KvCache *cache = nullptr;
        int layer = -1, pos0 = -1;
        cl_mem att = nullptr, q = nullptr;
        uint64_t mods = 0;
    } ahead_;
    uint64_t mods_ = 0;  // enqueued commands that write device memory (launches, copies, writes)
    Mem inv_freq_;
};

// Sets kernel arguments 0.. in order. Scalars must have the kernel's exact type (cl_int, cl_long,
// cl_float); buffers are cl_mem.
template <typename... A> void ClBackend::args_from(cl_kernel k, cl_uint first, const A &...a) {
    cl_uint i = first;
    const cl_int errs[] = {clSetKernelArg(k, i++, sizeof(A), &a)...};
    for (cl_int e : errs) check(e, "clSetKernelArg");
}

}  // namespace ocl
}  // namespace edgellm
