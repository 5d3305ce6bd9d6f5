// The backend-neutral op interface. Model code (src/engine/forward.cpp) names these ops and never
// sees cl_* types; each backend (cpu/ reference, opencl/) implements them on its own buffers.
//
// Activations are float row-major matrices (n_tokens, dim) held in backend Buffers. The KV cache
// is owned by a session; weights by the model and shared read-only by all sessions. Ops on one
// backend may run asynchronously; read() and finish() synchronise. A backend may run several
// consecutive ops as one launch (fusion is its business): the engine issues them one by one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/config.h"
#include "model/tensor.h"

namespace edgellm {

// Device memory for activations (float elements).
class Buffer {
public:
    virtual ~Buffer() = default;
    size_t n_floats = 0;
};

// A weight matrix (rows = outputs, cols = K) or a float vector, as the backend stores it.
class Weight {
public:
    virtual ~Weight() = default;
    DType type = DType::F32;
    int64_t rows = 0;  // vectors: rows = 1
    int64_t cols = 0;
    size_t bytes = 0;  // bytes of device/host memory it occupies
};

// Per-session KV cache: for each layer K and V of shape (n_ctx, kv_dim).
class KvCache {
public:
    virtual ~KvCache() = default;
    int n_layer = 0;
    int n_ctx = 0;
    int kv_dim = 0;
    size_t bytes = 0;
};

struct AttentionParams {
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    float scale = 0.f;    // multiplier of q·k (1/sqrt(head_dim) unless the model says otherwise)
    float softcap = 0.f;  // scores become softcap * tanh(s / softcap); 0: none
    int window = 0;       // query at p sees keys p - window < j <= p; 0: all j <= p
};

// One product of a shared input: y (n, W.rows) = x (n, W.cols) W^T.
struct Product {
    const Weight *W;
    Buffer *y;
};

class Backend {
public:
    virtual ~Backend() = default;

    virtual const char *name() const = 0;        // "cpu", "opencl"
    virtual std::string device_name() const = 0; // "CPU (4 threads)", the OpenCL device name

    // -- memory ---------------------------------------------------------------------------
    // Takes over a host matrix; the backend may keep it or upload it and free the host copy.
    virtual std::unique_ptr<Weight> upload_matrix(QTensor &&t) = 0;
    virtual std::unique_ptr<Weight> upload_vector(std::vector<float> &&v) = 0;
    virtual std::unique_ptr<Buffer> alloc(size_t n_floats) = 0;
    virtual std::unique_ptr<KvCache> alloc_kv(int n_layer, int n_ctx, int kv_dim) = 0;
    virtual void write(Buffer &dst, const float *src, size_t n, size_t offset = 0) = 0;
    virtual void read(const Buffer &src, float *dst, size_t n, size_t offset = 0) = 0;
    virtual void finish() {}

    // -- ops ------------------------------------------------------------------------------
    // out (n, cols) = scale * rows tokens[i] of table (n_vocab, cols), dequantized.
    virtual void embed(Buffer &out, const Weight &table, const int32_t *tokens, int n, float scale) = 0;
    // out (rows, dim) = x * rsqrt(mean(x^2) + eps) * w, per row of x (rows, dim) read from element
    // x_offset on; w has dim values. With dim = head_dim and rows = n * heads it is the per-head
    // norm of q / k. out may be x (in place, x_offset 0).
    virtual void rms_norm(Buffer &out, const Buffer &x, const Weight &w, int rows, int dim, float eps,
                          size_t x_offset = 0) = 0;
    // y (n, W.rows) = x (n, W.cols) W^T; with accumulate, y += that (the residual add fused).
    // x_offset/y_offset: element offsets into x and y (used to take the last row only).
    virtual void matmul(Buffer &y, const Weight &W, const Buffer &x, int n, bool accumulate,
                        size_t x_offset = 0, size_t y_offset = 0) = 0;
    // Several products of one input (q / k / v, gate / up): each y = x W^T. A backend may run
    // them as one launch.
    virtual void matmul_shared(const Buffer &x, int n, std::initializer_list<Product> products) {
        for (const Product &p : products) matmul(*p.y, *p.W, x, n, false);
    }
    // y (n, dim) += b (dim) for every row.
    virtual void add_bias(Buffer &y, const Weight &b, int n, int dim) = 0;
    // Rotates x (n, n_heads * t.head_dim) in place for positions pos0..pos0+n-1 (rotate-half
    // over the first t.rot_dim dimensions of each head, cos and sin scaled by t.mscale).
    virtual void rope(Buffer &x, int n, int n_heads, int pos0, const RopeTable &t) = 0;
    // Stores k and v (n, kv_dim) into cache rows pos0.. of `layer`.
    virtual void kv_store(KvCache &cache, int layer, const Buffer &k, const Buffer &v, int pos0, int n) = 0;
    // Causal attention of q (n, n_head*head_dim) at positions pos0.. over cache positions
    // [0, pos0+n) of `layer` (within p.window): out (n, n_head*head_dim). GQA: head h reads kv
    // head h / (n_head / n_head_kv).
    virtual void attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0,
                           int n, const AttentionParams &p) = 0;
    // out[i] = act(gate[i]) * up[i], i < n (SwiGLU, GeGLU).
    virtual void glu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n, Activation act) = 0;
    // y[i] += x[i], i < n.
    virtual void add(Buffer &y, const Buffer &x, size_t n) = 0;
    // x[i] = cap * tanh(x[i] / cap), i < n (Gemma 2's final logits).
    virtual void softcap(Buffer &x, size_t n, float cap) = 0;
    // Copies n floats from src[src_offset..] to dst[dst_offset..].
    virtual void copy(Buffer &dst, const Buffer &src, size_t n, size_t dst_offset = 0,
                      size_t src_offset = 0) = 0;
    // Greedy selection: the index of the first maximum of x[0..n), 0 < n <= x.n_floats, ties to
    // the lowest index; NaN never wins (-inf beats it) and n NaNs give 0. The same rule as the
    // host sampler's greedy scan (src/engine/sampler.cpp): any order of comparisons gives the
    // same index. Synchronises: waits for the ops before it and reads back one index.
    virtual int32_t argmax(const Buffer &x, size_t n) = 0;

    // -- greedy tokens kept on the device (optional) --------------------------------------
    // A backend whose ops run asynchronously (a GPU queue) can chain greedy decode steps without
    // a host round trip between them: argmax_to puts the index argmax would return into tok (a
    // buffer of at least one float, holding the int32 id), embed_from embeds the id held in tok,
    // and the host reads the id back later, while the device works on the next step:
    // token_read_begin orders a read of tok's id as it is at that point (ops issued after it do
    // not change what it returns), token_read_end waits for that read and returns the id,
    // checked to lie in [0, n). At most one read per tok is outstanding; destroying tok waits for
    // it. pipelined_tokens(table): whether the backend does all this for embeddings from table
    // (false: a synchronous backend, for which forward_argmax is the way).
    virtual bool pipelined_tokens(const Weight &table) const {
        (void)table;
        return false;
    }
    virtual void argmax_to(Buffer &tok, const Buffer &x, size_t n);
    virtual void embed_from(Buffer &out, const Weight &table, const Buffer &tok, float scale);
    virtual void token_read_begin(Buffer &tok);
    virtual int32_t token_read_end(Buffer &tok, size_t n);
};

// Backends without device-held tokens (pipelined_tokens false) report a use as a bug.
inline void Backend::argmax_to(Buffer &, const Buffer &, size_t) {
    fail(EDGELLM_ERR_INTERNAL, "%s backend: no device-held tokens (argmax_to)", name());
}
inline void Backend::embed_from(Buffer &, const Weight &, const Buffer &, float) {
    fail(EDGELLM_ERR_INTERNAL, "%s backend: no device-held tokens (embed_from)", name());
}
inline void Backend::token_read_begin(Buffer &) {
    fail(EDGELLM_ERR_INTERNAL, "%s backend: no device-held tokens (token_read_begin)", name());
}
inline int32_t Backend::token_read_end(Buffer &, size_t) {
    fail(EDGELLM_ERR_INTERNAL, "%s backend: no device-held tokens (token_read_end)", name());
}

struct CpuBackendOptions {
    int n_threads = 0;  // 0: hardware concurrency
};
// The scalar reference backend (the oracle).
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions &opt);

}  // namespace edgellm
