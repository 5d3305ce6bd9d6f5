// The CPU reference backend: plain scalar loops, one function per op (llama2.c style), float
// activations and a float KV cache. It is the oracle every other backend is tested against, so it
// favours clarity over speed; rows of matrix products and heads of attention are split across a
// thread pool, which changes no result.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/host_backend.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/thread_pool.h"

namespace edgellm {
namespace {

using host::check_range;
using host::F;
using host::activate;

class CpuWeight : public Weight {
public:
    QTensor m;              // matrices
    std::vector<float> vec; // vectors
};

class CpuKv : public KvCache {
public:
    std::vector<std::vector<float>> k, v;  // per layer: (n_ctx, kv_dim)
};

const CpuWeight &W(const Weight &w) { return static_cast<const CpuWeight &>(w); }

// Dot product with 8 independent partial sums (K is a multiple of 8 for every quantized row;
// the tail loop covers the rest). Summation order is fixed, so results are reproducible.
float dot(const float *a, const float *b, int64_t K) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < K; ++k) s += a[k] * b[k];
    return s;
}

class CpuBackend : public host::HostBackend {
public:
    explicit CpuBackend(const CpuBackendOptions &opt) : pool_(opt.n_threads) {}

    const char *name() const override { return "reference"; }
    std::string device_name() const override {
        return strprintf("CPU (%d thread%s)", pool_.size(), pool_.size() == 1 ? "" : "s");
    }

    std::unique_ptr<Weight> upload_matrix(QTensor &&t) override {
        auto w = std::make_unique<CpuWeight>();
        w->type = t.type;
        w->rows = t.rows;
        w->cols = t.cols;
        w->bytes = t.bytes();
        w->m = std::move(t);
        return w;
    }
    std::unique_ptr<Weight> upload_vector(std::vector<float> &&v) override {
        auto w = std::make_unique<CpuWeight>();
        w->rows = 1;
        w->cols = (int64_t)v.size();
        w->bytes = v.size() * 4;
        w->vec = std::move(v);
        return w;
    }
    std::unique_ptr<KvCache> alloc_kv(int n_layer, int n_ctx, int kv_dim) override {
        auto c = std::make_unique<CpuKv>();
        c->n_layer = n_layer;
        c->n_ctx = n_ctx;
        c->kv_dim = kv_dim;
        c->k.assign(n_layer, std::vector<float>((size_t)n_ctx * kv_dim, 0.f));
        c->v.assign(n_layer, std::vector<float>((size_t)n_ctx * kv_dim, 0.f));
        c->bytes = 2ull * n_layer * n_ctx * kv_dim * sizeof(float);
        return c;
    }

    // out (n, cols) = scale * table[tokens[i]]
    void embed(Buffer &out, const Weight &table, const int32_t *tokens, int n, float scale) override {
        const QTensor &t = W(table).m;
        check_range(out, 0, (size_t)n * t.cols);
        for (int i = 0; i < n; ++i) {
            if (tokens[i] < 0 || tokens[i] >= t.rows)
                fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d outside [0, %lld)", tokens[i], (long long)t.rows);
            float *o = F(out) + (size_t)i * t.cols;
            dequantize_row(t, tokens[i], o);
            if (scale != 1.f)
                for (int64_t j = 0; j < t.cols; ++j) o[j] *= scale;
        }
    }

    // out (rows, dim) = x / rms(x) * w
    void rms_norm(Buffer &out, const Buffer &x, const Weight &w, int rows, int dim, float eps,
                  size_t x_off) override {
        check_range(x, x_off, (size_t)rows * dim);
        check_range(out, 0, (size_t)rows * dim);
        if (W(w).vec.size() != (size_t)dim) fail(EDGELLM_ERR_INTERNAL, "rms_norm: weight of %zu for dim %d", W(w).vec.size(), dim);
        const float *g = W(w).vec.data();
        for (int i = 0; i < rows; ++i) {
            const float *xi = F(x) + x_off + (size_t)i * dim;
            float *oi = F(out) + (size_t)i * dim;
            float ss = 0.f;
            for (int j = 0; j < dim; ++j) ss += xi[j] * xi[j];
            float inv = 1.f / std::sqrt(ss / (float)dim + eps);
            for (int j = 0; j < dim; ++j) oi[j] = xi[j] * inv * g[j];
        }
    }

    // y (n, rows) (+)= x (n, cols) W^T
    void matmul(Buffer &y, const Weight &w, const Buffer &x, int n, bool accumulate, size_t x_off,
                size_t y_off) override {
        const QTensor &t = W(w).m;
        const int64_t R = t.rows, K = t.cols;
        check_range(x, x_off, (size_t)n * K);
        check_range(y, y_off, (size_t)n * R);
        const float *xp = F(x) + x_off;
        float *yp = F(y) + y_off;
        pool_.parallel_for(R, [&](int64_t r0, int64_t r1, int) {
            std::vector<float> row((size_t)K);
            for (int64_t r = r0; r < r1; ++r) {
                dequantize_row(t, r, row.data());  // once per row, reused for every token
                for (int i = 0; i < n; ++i) {
                    const float s = dot(row.data(), xp + (size_t)i * K, K);
                    float &dst = yp[(size_t)i * R + r];
                    dst = accumulate ? dst + s : s;
                }
            }
        });
    }

    // y (n, dim) += b
    void add_bias(Buffer &y, const Weight &b, int n, int dim) override {
        check_range(y, 0, (size_t)n * dim);
        const std::vector<float> &bv = W(b).vec;
        if (bv.size() != (size_t)dim) fail(EDGELLM_ERR_INTERNAL, "add_bias: %zu values for dim %d", bv.size(), dim);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < dim; ++j) F(y)[(size_t)i * dim + j] += bv[(size_t)j];
    }

    // Rotate-half RoPE over the first rot_dim dimensions of each head, cos and sin times mscale.
    void rope(Buffer &xb, int n, int n_heads, int pos0, const RopeTable &t) override {
        const int hd = t.head_dim, half = t.rot_dim / 2;
        check_range(xb, 0, (size_t)n * n_heads * hd);
        for (int i = 0; i < n; ++i) {
            const float pos = (float)(pos0 + i);
            for (int h = 0; h < n_heads; ++h) {
                float *x = F(xb) + ((size_t)i * n_heads + h) * hd;
                for (int j = 0; j < half; ++j) {
                    const float theta = pos * t.inv_freq[(size_t)j];
                    const float cs = std::cos(theta) * t.mscale, sn = std::sin(theta) * t.mscale;
                    const float x0 = x[j], x1 = x[j + half];
                    x[j] = x0 * cs - x1 * sn;
                    x[j + half] = x1 * cs + x0 * sn;
                }
            }
        }
    }

    // k and v (n, kv_dim) into the cache rows pos0..pos0+n-1.
    void kv_store(KvCache &cache, int layer, const Buffer &k, const Buffer &v, int pos0, int n) override {
        auto &c = static_cast<CpuKv &>(cache);
        if (layer < 0 || layer >= c.n_layer || pos0 < 0 || pos0 + n > c.n_ctx)
            fail(EDGELLM_ERR_INTERNAL, "KV write past the context");
        const size_t kd = (size_t)c.kv_dim;
        check_range(k, 0, (size_t)n * kd);
        check_range(v, 0, (size_t)n * kd);
        std::memcpy(&c.k[layer][(size_t)pos0 * kd], F(k), n * kd * 4);
        std::memcpy(&c.v[layer][(size_t)pos0 * kd], F(v), n * kd * 4);
    }

    // out (n, n_head*hd): softmax(softcap(q k^T * scale)) v over the positions query i sees.
    void attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0, int n,
                   const AttentionParams &p) override {
        const auto &c = static_cast<const CpuKv &>(cache);
        const int hd = p.head_dim, qd = p.n_head * hd, kd = p.n_head_kv * hd;
        const int group = p.n_head / p.n_head_kv;
        const float *K = c.k[layer].data();
        const float *V = c.v[layer].data();
        pool_.parallel_for((int64_t)n * p.n_head, [&](int64_t b, int64_t e, int) {
            std::vector<float> score((size_t)(pos0 + n));
            for (int64_t job = b; job < e; ++job) {
                const int i = (int)(job / p.n_head), h = (int)(job % p.n_head);
                const int kvh = h / group;
                const int end = pos0 + i + 1;  // keys [first, end)
                const int first = p.window > 0 ? std::max(0, end - p.window) : 0;
                const float *qi = F(q) + (size_t)i * qd + h * hd;
                float mx = -INFINITY;
                for (int t = first; t < end; ++t) {
                    const float *kt = K + (size_t)t * kd + kvh * hd;
                    float s = 0.f;
                    for (int d = 0; d < hd; ++d) s += qi[d] * kt[d];
                    s *= p.scale;
                    if (p.softcap > 0.f) s = p.softcap * std::tanh(s / p.softcap);
                    score[t] = s;
                    mx = std::max(mx, s);
                }
                float sum = 0.f;
                for (int t = first; t < end; ++t) {
                    score[t] = std::exp(score[t] - mx);
                    sum += score[t];
                }
                float *oi = F(out) + (size_t)i * qd + h * hd;
                for (int d = 0; d < hd; ++d) oi[d] = 0.f;
                for (int t = first; t < end; ++t) {
                    const float *vt = V + (size_t)t * kd + kvh * hd;
                    const float a = score[t] / sum;
                    for (int d = 0; d < hd; ++d) oi[d] += a * vt[d];
                }
            }
        });
    }

    void glu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n, Activation act) override {
        for (size_t i = 0; i < n; ++i) {
            const float g = F(gate)[i];
            F(out)[i] = activate(g, act) * F(up)[i];
        }
    }

private:
    ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions &opt) {
    return std::make_unique<CpuBackend>(opt);
}

}  // namespace edgellm
