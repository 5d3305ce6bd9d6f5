// The backend-neutral op interface. Model code (src/engine/forward.cpp) names these ops and never
// sees cl_* types; each backend (cpu/ reference, opencl/) implements them on its own buffers.
//
// Activations are float row-major matrices (n_tokens, dim) held in backend Buffers. The KV cache
// is owned by a session; weights by the model and shared read-only by all sessions. Ops on one
// backend may run asynchronously; read() and finish() synchronise.
#pragma once

#include <cstddef>
#include <cstdint>
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

struct RopeParams {
    int head_dim = 0;
    int n_head = 0;
    int n_head_kv = 0;
    const std::vector<float> *inv_freq = nullptr;  // head_dim/2, scaling applied (rotate-half)
};

struct AttentionParams {
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    float scale = 0.f;  // 1/sqrt(head_dim)
};

// The device weights of one decoder layer, for ops that span several of its products.
struct LayerRefs {
    const Weight *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
    const Weight *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
    const Weight *attn_norm = nullptr, *ffn_norm = nullptr;
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
    // out (n, cols) = rows tokens[i] of table (n_vocab, cols), dequantized.
    virtual void embed(Buffer &out, const Weight &table, const int32_t *tokens, int n) = 0;
    // out (n, dim) = x * rsqrt(mean(x^2) + eps) * w, per row.
    virtual void rms_norm(Buffer &out, const Buffer &x, const Weight &w, int n, int dim,
                          float eps) = 0;
    // y (n, W.rows) = x (n, W.cols) W^T; with accumulate, y += that (the residual add fused).
    // x_offset/y_offset: element offsets into x and y (used to take the last row only).
    virtual void matmul(Buffer &y, const Weight &W, const Buffer &x, int n, bool accumulate,
                        size_t x_offset = 0, size_t y_offset = 0) = 0;
    // Rotates q (n, n_head*head_dim) and k (n, n_head_kv*head_dim) in place for positions
    // pos0..pos0+n-1 and stores k and v (n, kv_dim) into the cache rows pos0.. of `layer`.
    virtual void rope_store_kv(Buffer &q, Buffer &k, const Buffer &v, KvCache &cache, int layer,
                               int pos0, int n, const RopeParams &p) = 0;
    // Causal attention of q (n, n_head*head_dim) at positions pos0.. over cache positions
    // [0, pos0+n) of `layer`: out (n, n_head*head_dim). GQA: head h reads kv head
    // h / (n_head / n_head_kv).
    virtual void attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0,
                           int n, const AttentionParams &p) = 0;
    // RoPE + KV-cache store + attention: rope_store_kv then attention, as one op so that a GPU
    // backend can fuse them (one launch per decoded token). q and k hold unspecified values
    // afterwards.
    virtual void rope_attention(Buffer &out, Buffer &q, Buffer &k, const Buffer &v, KvCache &cache,
                                int layer, int pos0, int n, const RopeParams &rp,
                                const AttentionParams &ap) {
        rope_store_kv(q, k, v, cache, layer, pos0, n, rp);
        attention(out, q, cache, layer, pos0, n, ap);
    }
    // out[i] = silu(gate[i]) * up[i], i < n.
    virtual void swiglu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n) = 0;
    // y[i] += x[i], i < n.
    virtual void add(Buffer &y, const Buffer &x, size_t n) = 0;
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
    virtual void embed_from(Buffer &out, const Weight &table, const Buffer &tok);
    virtual void token_read_begin(Buffer &tok);
    virtual int32_t token_read_end(Buffer &tok, size_t n);

    // -- fused ops (defaults composed of the ops above; GPU backends override them) -------
    // q (n, Wq.rows), k (n, Wk.rows), v (n, Wv.rows) = x Wq^T, x Wk^T, x Wv^T for x (n, cols):
    // one launch instead of three during decode.
    virtual void matmul_qkv(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                            const Weight &Wv, const Buffer &x, int n) {
        matmul(q, Wq, x, n, false);
        matmul(k, Wk, x, n, false);
        matmul(v, Wv, x, n, false);
    }
    // out (n, Wg.rows) = silu(x Wg^T) * (x Wu^T): the FFN gate/up products fused with SwiGLU.
    // scratch holds n * Wg.rows floats (used by the default and by prefill paths).
    virtual void matmul_swiglu(Buffer &out, Buffer &scratch, const Weight &Wg, const Weight &Wu,
                               const Buffer &x, int n) {
        matmul(out, Wg, x, n, false);
        matmul(scratch, Wu, x, n, false);
        swiglu(out, out, scratch, (size_t)n * (size_t)Wg.rows);
    }
    // The RMSNorm before a block fused into its products: xn (n, cols) = rms_norm(x, norm, eps),
    // then matmul_qkv / matmul_swiglu over xn. Backends that fold the norm into the product may
    // leave xn unwritten.
    virtual void norm_matmul_qkv(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                                 const Weight &Wv, const Buffer &x, const Weight &norm, float eps,
                                 Buffer &xn, int n) {
        rms_norm(xn, x, norm, n, (int)Wq.cols, eps);
        matmul_qkv(q, k, v, Wq, Wk, Wv, xn, n);
    }
    virtual void norm_matmul_swiglu(Buffer &out, Buffer &scratch, const Weight &Wg, const Weight &Wu,
                                    const Buffer &x, const Weight &norm, float eps, Buffer &xn,
                                    int n) {
        rms_norm(xn, x, norm, n, (int)Wg.cols, eps);
        matmul_swiglu(out, scratch, Wg, Wu, xn, n);
    }
    // The model's last step for one token: y (W.rows) = rms_norm(x[x_off .. x_off + W.cols), norm,
    // eps) W^T (the final norm and the logits). xn (W.cols) is scratch; a fused implementation
    // may leave it unwritten.
    virtual void norm_matmul(Buffer &y, const Weight &W, const Buffer &x, size_t x_off, const Weight &norm,
                             float eps, Buffer &xn) {
        copy(xn, x, (size_t)W.cols, 0, x_off);
        rms_norm(xn, xn, norm, 1, (int)W.cols, eps);
        matmul(y, W, xn, 1, false);
    }
    // The rest of decoder layer L after attention, then the first op of the next layer (`next`,
    // may be null), for x (n, n_embd) and the attention output att (n, q_dim):
    //   x += att Wo^T;  h = silu(n2(x) Wg^T) * (n2(x) Wu^T);  x += h Wd^T;
    //   q, k, v = n1'(x) Wq'^T, n1'(x) Wk'^T, n1'(x) Wv'^T     (n1', W': next's norm and weights)
    // h, up and xn are scratch (gate (n, n_ff), up, xn (n, n_embd)); a fused implementation may
    // leave them unwritten. A GPU backend can run all of it as one launch during decode.
    virtual void layer_tail(Buffer &x, const Buffer &att, const LayerRefs &L, const LayerRefs *next,
                            Buffer &q, Buffer &k, Buffer &v, Buffer &h, Buffer &up, Buffer &xn, int n,
                            float eps) {
        matmul(x, *L.wo, att, n, true);
        norm_matmul_swiglu(h, up, *L.w_gate, *L.w_up, x, *L.ffn_norm, eps, xn, n);
        matmul(x, *L.w_down, h, n, true);
        if (next)
            norm_matmul_qkv(q, k, v, *next->wq, *next->wk, *next->wv, x, *next->attn_norm, eps, xn, n);
    }
    // Decoder layer `layer` (weights L) from its q / k / v on: rope_attention (RoPE, the KV-cache
    // store of k / v at positions pos0.., attention into att), then layer_tail (x updated, the next
    // layer's q / k / v). One op so that a GPU backend can run the whole layer as one launch during
    // decode. att, h, up and xn are scratch afterwards.
    virtual void attention_layer_tail(Buffer &x, Buffer &att, Buffer &q, Buffer &k, Buffer &v, KvCache &cache,
                                      int layer, int pos0, const RopeParams &rp, const AttentionParams &ap,
                                      const LayerRefs &L, const LayerRefs *next, Buffer &h, Buffer &up,
                                      Buffer &xn, int n, float eps) {
        rope_attention(att, q, k, v, cache, layer, pos0, n, rp, ap);
        layer_tail(x, att, L, next, q, k, v, h, up, xn, n, eps);
    }
};

// Backends without device-held tokens (pipelined_tokens false) report a use as a bug.
inline void Backend::argmax_to(Buffer &, const Buffer &, size_t) {
    fail(EDGELLM_ERR_INTERNAL, "%s backend: no device-held tokens (argmax_to)", name());
}
inline void Backend::embed_from(Buffer &, const Weight &, const Buffer &) {
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
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions &opt);

}  // namespace edgellm
