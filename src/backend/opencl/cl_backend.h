// The OpenCL implementation of Backend (declared here so the ops, the memory code and the bench
// helpers in opencl_backend.h can share it). One portable path for every device: Mali, Adreno,
// Intel, PoCL and NVIDIA run the same kernels with the block sizes of their tuning row.
// Device buffers: activations float, weights in the run formats of model/tensor.h (split by rows
// where a tensor exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE), KV cache half. Ops enqueue without host
// synchronisation; read() blocks.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/opencl/cl_common.h"
#include "backend/opencl/cl_program.h"
#include "backend/opencl/cl_tuning.h"
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
    // Writes by ops so far: an op that writes the buffer increments it (ClBackend::touch).
    uint64_t version = 0;
    // The int8 form of the contents for the decode products (kernels/common.cl layout), written
    // by quant_i8 or by the op that produced the contents: valid while q8_version == version, for
    // q8_elems elements from element q8_off.
    Mem q8, d8;
    size_t q8_cap = 0, d8_cap = 0;
    uint64_t q8_version = ~0ull;
    size_t q8_off = 0, q8_elems = 0;
    ~ClBuffer() override;
};

struct WeightChunk {
    int64_t row0 = 0, rows = 0;
    Mem data, scales, mins;
};

struct ClWeight : Weight {
    bool has_mins = false;
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

    void embed(Buffer &out, const Weight &table, const int32_t *tokens, int n, float scale) override;
    void rms_norm(Buffer &out, const Buffer &x, const Weight &w, int rows, int dim, float eps,
                  size_t x_offset) override;
    void matmul(Buffer &y, const Weight &W, const Buffer &x, int n, bool accumulate, size_t x_offset,
                size_t y_offset) override;
    void matmul_shared(const Buffer &x, int n, std::initializer_list<Product> products) override;
    void add_bias(Buffer &y, const Weight &b, int n, int dim) override;
    void rope(Buffer &x, int n, int n_heads, int pos0, const RopeTable &t) override;
    void kv_store(KvCache &cache, int layer, const Buffer &k, const Buffer &v, int pos0, int n) override;
    void attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0, int n,
                   const AttentionParams &p) override;
    void glu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n, Activation act) override;
    void add(Buffer &y, const Buffer &x, size_t n) override;
    void softcap(Buffer &x, size_t n, float cap) override;
    void copy(Buffer &dst, const Buffer &src, size_t n, size_t dst_offset, size_t src_offset) override;
    int32_t argmax(const Buffer &x, size_t n) override;
    bool pipelined_tokens(const Weight &table) const override;
    void argmax_to(Buffer &tok, const Buffer &x, size_t n) override;
    void embed_from(Buffer &out, const Weight &table, const Buffer &tok, float scale) override;
    void token_read_begin(Buffer &tok) override;
    int32_t token_read_end(Buffer &tok, size_t n) override;

    // Bench / diagnostics (opencl_backend.h).
    std::vector<OpenClKernelTime> take_profile();
    uint64_t launches() const { return launches_; }
    double measure_bandwidth_gbs();
    double measure_fp32_gflops();
    const Tuning &tuning() const { return tune_; }
    std::string describe() const;

private:
    cl_kernel kernel(const char *name);
    template <typename... A> void args(cl_kernel k, const A &...a) { args_from(k, 0, a...); }
    // Sets arguments first, first + 1, ... of k.
    template <typename... A> void args_from(cl_kernel k, cl_uint first, const A &...a);
    void launch(const char *name, cl_kernel k, int dims, const size_t *gws, const size_t *lws);
    // One launch of dequant.cl's embed kernel for table chunk c: n tokens whose ids are ids[0..n),
    // or (ids null, n 1) the chunk row tok0; rows into out from float out_off.
    void launch_embed(const ClWeight &W, const WeightChunk &c, cl_mem ids, cl_int tok0, int n, Buffer &out,
                      size_t out_off, float scale);
    // The argmax kernel over x[0..n) with its result in out[out_i] (out null: argmax_'s slot 1).
    void enqueue_argmax(const Buffer &x, size_t n, cl_mem out, int out_i);
    cl_mem make_buffer(size_t bytes, const void *src, cl_mem_flags flags);
    // A buffer filled through a mapped write: fill(p) writes `bytes` bytes at p.
    template <typename Fill> cl_mem make_buffer_fill(size_t bytes, Fill fill, cl_mem_flags flags);
    void ensure(Mem &m, size_t &cap, size_t bytes);
    // The int8 form of x (n, K) from element x_off (quant.cl) in x's q8 / d8, unless the op that
    // wrote x left it there.
    void quantize(const Buffer &x, size_t x_off, int n, int K);
    // Makes room for the int8 form of `elems` elements of b (a multiple of 32) and returns it as
    // valid from the next touch on; the caller's kernel writes it.
    void q8_target(ClBuffer &b, size_t elems);
    void touch(const Buffer &b) { ++const_cast<ClBuffer &>(static_cast<const ClBuffer &>(b)).version; }
    // Whether an op writing `elems` floats of decode-sized data should also write their int8 form.
    bool want_q8(size_t groups_per_token, size_t tokens) const {
        return groups_per_token > 0 && tokens <= (size_t)tune_.gemv_max_n;
    }
    // One launch of gemv_F over up to three chunks of matrices of one format sharing x (n, K).
    struct GemvOut {
        const ClWeight *W;
        const WeightChunk *c;
        Buffer *y;
        size_t y_off;  // element offset of row 0 of token 0 (the chunk's row0 included)
        size_t ld;     // elements between tokens
    };
    void gemv(const GemvOut *outs, int count, const Buffer &x, size_t x_off, int n, bool accumulate);
    // Prefill product of one chunk: dequantized tile (float or half) + CLBlast GEMM.
    void gemm(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
              bool accumulate, size_t x_off, size_t y_off);
    void gemm_half(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                   bool accumulate, size_t x_off, size_t y_off);
    // Rows per prefill tile of chunk c (elements of elem_bytes), with tile_ made that large.
    size_t gemm_tile_rows(const WeightChunk &c, size_t K, size_t elem_bytes);
    // Rows r0..r0+nr of chunk c into tile_ as a column-major (nr x K) matrix of half or float.
    void dequant_tile(const ClWeight &W, const WeightChunk &c, size_t r0, size_t nr, bool half);
    cl_mem inv_freq_buffer(const std::vector<float> &f);
    void build_programs();
    // Hands the row's Xgemm parameters for half precision to CLBlast (OverrideParameters).
    void inject_clblast_hgemm();

    OpenClBackendOptions opt_;
    Logger log_;
    cl_device_id dev_ = nullptr;
    cl_context ctx_ = nullptr;
    cl_command_queue queue_ = nullptr;
    std::string dev_name_, dev_key_;
    size_t max_alloc_ = 0;
    size_t global_mem_ = 0;  // CL_DEVICE_GLOBAL_MEM_SIZE
    Tuning tune_;
    bool subgroups_ = false, fp16_ = false;
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
    Mem xh_; size_t xh_cap_ = 0;           // half copy of a prefill GEMM's input
    Mem yh_; size_t yh_cap_ = 0;           // half output of a HGEMM slice
    Mem blas_tmp_; size_t blas_tmp_cap_ = 0;
    Mem tokens_; size_t tokens_cap_ = 0;
    Mem part_o_; size_t part_o_cap_ = 0;   // attention partials
    Mem part_ml_; size_t part_ml_cap_ = 0;
    Mem argmax_;                           // argmax's state (sample.cl): ticket (kept zero), result, pairs
    std::vector<float> inv_freq_host_;
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
