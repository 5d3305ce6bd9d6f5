// The fast CPU backend: the ops of backend.h on float activations, with Q4 / Q8_0 weights repacked
// at load into 4-row tiles (kernels.h) and products computed as int8 activations (quantized once
// per product input) against those tiles, an fp16 KV cache, and a persistent thread pool. Matrix
// products split tiles across threads; attention splits (token, head) pairs.
#include "backend/cpu_fast/cpu_fast_backend.h"
#include "core/env.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "backend/cpu/host_backend.h"
#include "backend/cpu_fast/kernels.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/thread_pool.h"

namespace edgellm {

bool parse_cpu_list(const char *s, std::vector<int> &out) {
    out.clear();
    while (*s) {
        char *end;
        long a = std::strtol(s, &end, 10);
        if (end == s || a < 0 || a > 4095) return false;
        long b = a;
        s = end;
        if (*s == '-') {
            b = std::strtol(s + 1, &end, 10);
            if (end == s + 1 || b < a || b > 4095) return false;
            s = end;
        }
        for (long c = a; c <= b; ++c) out.push_back((int)c);
        if (*s == ',') ++s;
        else if (*s) return false;
    }
    return !out.empty();
}

namespace {

using namespace cpu_fast;
using host::check_range;
using host::F;
using host::activate;

class FastWeight : public Weight {
public:
    bool packed = false;
    PackedMatrix p;         // Q4 / Q8_0 matrices
    QTensor m;              // F32 / F16 / BF16 matrices, as loaded
    std::vector<float> vec; // vectors
};

class FastKv : public KvCache {
public:
    std::vector<std::vector<uint16_t>> k, v;  // per layer: (n_ctx, kv_dim) fp16
};

const FastWeight &W(const Weight &w) { return static_cast<const FastWeight &>(w); }

Isa choose_isa(const std::string &cap_opt) {
    Isa avail[8];
    const int n = available_isas(avail, 8);
    std::string cap = cap_opt;
    if (cap.empty())
        cap = env("EDGELLM_CPU_ISA");
    if (cap.empty()) return avail[n - 1];
    Isa want;
    if (!isa_from_name(cap.c_str(), want))
        fail(EDGELLM_ERR_INVALID_ARGUMENT, "unknown CPU kernel level '%s'", cap.c_str());
    // The highest available level not above the cap (levels of one architecture are ordered).
    Isa best = Isa::Scalar;
    for (int i = 0; i < n; ++i)
        if ((int)avail[i] <= (int)want) best = avail[i];
    return best;
}

std::vector<int> choose_cpus(const std::vector<int> &opt) {
    if (!opt.empty()) return opt;
    std::vector<int> cpus;
    const std::string e = env("EDGELLM_CPU_AFFINITY");
    if (!e.empty() && !parse_cpu_list(e.c_str(), cpus))
        fail(EDGELLM_ERR_INVALID_ARGUMENT, "EDGELLM_CPU_AFFINITY '%s' is not a CPU list such as 4-7", e.c_str());
    return cpus;
}

// Tiles repacked between two releases of source memory (1024 rows).
constexpr int64_t kRepackTiles = 256;

// Hands the whole pages inside buf[0, n) back to the system (Linux: MADV_DONTNEED); the caller
// reads none of those bytes again before freeing buf. Pages that hold anything outside buf (the
// allocator's headers) are kept.
void release_prefix(AlignedBuffer &buf, size_t n) {
#if defined(__linux__)
    if (buf.empty()) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t begin = ((uintptr_t)buf.data() + page - 1) / page * page;
    const uintptr_t end = ((uintptr_t)buf.data() + std::min(n, buf.size())) / page * page;
    if (end > begin) madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
#else
    (void)buf;
    (void)n;
#endif
}

class FastBackend : public host::HostBackend {
public:
    explicit FastBackend(const CpuFastOptions &opt)
        : k_(kernels_for(choose_isa(opt.max_isa))), pool_(opt.n_threads, choose_cpus(opt.cpus)) {}

    const char *name() const override { return "cpu"; }
    std::string device_name() const override {
        return strprintf("CPU (%s, %d thread%s)", isa_name(k_.isa), pool_.size(), pool_.size() == 1 ? "" : "s");
    }

    std::unique_ptr<Weight> upload_matrix(QTensor &&t_in) override {
        QTensor t = std::move(t_in);  // freed when this returns: the repacked copy replaces it
        auto w = std::make_unique<FastWeight>();
        w->type = t.type;
        w->rows = t.rows;
        w->cols = t.cols;
        if (t.type == DType::Q4 || t.type == DType::Q8_0) {
            const Pack pk = t.type == DType::Q8_0 ? Pack::Q8_0 : t.has_mins() ? Pack::Q4_1 : Pack::Q4_0;
            allocate_packed(pk, t.rows, t.cols, w->p);
            const QTensorView src{(int)t.type, t.rows, t.cols, t.data.data(), t.scales.as<uint16_t>(),
                                  t.has_mins() ? t.mins.as<uint16_t>() : nullptr};
            PackedMatrix &p = w->p;
            // In chunks of rows, each chunk's source pages handed back to the system once
            // repacked: the source and the tiles together stay about one tensor in size.
            const size_t row_bytes = QTensor::row_data_bytes(t.type, t.cols), row_groups = (size_t)p.groups * 2;
            for (int64_t c0 = 0; c0 < p.tiles; c0 += kRepackTiles) {
                const int64_t c1 = std::min(p.tiles, c0 + kRepackTiles);
                pool_.parallel_for(c1 - c0, [&](int64_t b, int64_t e, int) {
                    repack(src, p, (c0 + b) * kTileRows, std::min<int64_t>((c0 + e) * kTileRows, p.rows));
                });
                const size_t rows_done = (size_t)std::min<int64_t>(c1 * kTileRows, p.rows);
                release_prefix(t.data, rows_done * row_bytes);
                release_prefix(t.scales, rows_done * row_groups);
                release_prefix(t.mins, rows_done * row_groups);
            }
            w->packed = true;
            w->bytes = p.data.size();
        } else {
            w->bytes = t.bytes();
            w->m = std::move(t);
        }
        return w;
    }
    std::unique_ptr<Weight> upload_vector(std::vector<float> &&v) override {
        auto w = std::make_unique<FastWeight>();
        w->rows = 1;
        w->cols = (int64_t)v.size();
        w->bytes = v.size() * 4;
        w->vec = std::move(v);
        return w;
    }
    std::unique_ptr<KvCache> alloc_kv(int n_layer, int n_ctx, int kv_dim) override {
        auto c = std::make_unique<FastKv>();
        c->n_layer = n_layer;
        c->n_ctx = n_ctx;
        c->kv_dim = kv_dim;
        c->k.assign(n_layer, std::vector<uint16_t>((size_t)n_ctx * kv_dim, 0));
        c->v.assign(n_layer, std::vector<uint16_t>((size_t)n_ctx * kv_dim, 0));
        c->bytes = 2ull * n_layer * n_ctx * kv_dim * sizeof(uint16_t);
        return c;
    }

    // out (n, cols) = scale * table[tokens[i]]
    void embed(Buffer &out, const Weight &table, const int32_t *tokens, int n, float scale) override {
        const FastWeight &t = W(table);
        check_range(out, 0, (size_t)n * t.cols);
        for (int i = 0; i < n; ++i) {
            if (tokens[i] < 0 || tokens[i] >= t.rows)
                fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d outside [0, %lld)", tokens[i], (long long)t.rows);
            float *o = F(out) + (size_t)i * t.cols;
            if (t.packed) unpack_row(t.p, tokens[i], o);
            else dequantize_row(t.m, tokens[i], o);
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
            const float inv = 1.f / std::sqrt(k_.dot_f32(xi, xi, dim) / (float)dim + eps);
            for (int j = 0; j < dim; ++j) oi[j] = xi[j] * inv * g[j];
        }
    }

    // y (n, rows) (+)= x (n, cols) W^T
    void matmul(Buffer &y, const Weight &w, const Buffer &x, int n, bool accumulate, size_t x_off,
                size_t y_off) override {
        const FastWeight &fw = W(w);
        check_range(x, x_off, (size_t)n * fw.cols);
        check_range(y, y_off, (size_t)n * fw.rows);
        if (!fw.packed) {
            matmul_dense(F(y) + y_off, fw, F(x) + x_off, n, accumulate);
            return;
        }
        quantize_input(F(x) + x_off, n, fw.cols);
        float *yp = F(y) + y_off;
        pool_.parallel_for(fw.p.tiles, [&](int64_t b, int64_t e, int) {
            k_.gemm_q(fw.p, b, e, act_, yp, fw.rows, accumulate);
        });
    }

    // One quantization of x for every product, one parallel_for over the tiles of all of them.
    void matmul_shared(const Buffer &x, int n, std::initializer_list<Product> products) override {
        const int64_t K = products.begin()->W->cols;
        bool all_packed = true;
        int64_t total = 0;
        for (const Product &p : products) {
            all_packed = all_packed && W(*p.W).packed && p.W->cols == K;
            total += W(*p.W).p.tiles;
        }
        if (!all_packed) {
            for (const Product &p : products) matmul(*p.y, *p.W, x, n, false, 0, 0);
            return;
        }
        check_range(x, 0, (size_t)n * K);
        struct Part {
            const FastWeight *w;
            float *y;
            int64_t first;  // global index of its first tile
        };
        std::vector<Part> parts;
        int64_t first = 0;
        for (const Product &p : products) {
            check_range(*p.y, 0, (size_t)n * p.W->rows);
            parts.push_back({&W(*p.W), F(*p.y), first});
            first += W(*p.W).p.tiles;
        }
        quantize_input(F(x), n, K);
        pool_.parallel_for(total, [&](int64_t b, int64_t e, int) {
            for (const Part &pt : parts) {
                const int64_t lo = std::max(b, pt.first), hi = std::min(e, pt.first + pt.w->p.tiles);
                if (lo < hi) k_.gemm_q(pt.w->p, lo - pt.first, hi - pt.first, act_, pt.y, pt.w->rows, false);
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

    // Rotate-half RoPE; cos and sin computed once per (token, dimension) as the reference does
    // per head, so every head sees the same values.
    void rope(Buffer &xb, int n, int n_heads, int pos0, const RopeTable &t) override {
        const int hd = t.head_dim, half = t.rot_dim / 2;
        check_range(xb, 0, (size_t)n * n_heads * hd);
        std::vector<float> cs((size_t)half), sn((size_t)half);
        for (int i = 0; i < n; ++i) {
            const float pos = (float)(pos0 + i);
            for (int j = 0; j < half; ++j) {
                const float theta = pos * t.inv_freq[(size_t)j];
                cs[(size_t)j] = std::cos(theta) * t.mscale;
                sn[(size_t)j] = std::sin(theta) * t.mscale;
            }
            for (int h = 0; h < n_heads; ++h) {
                float *x = F(xb) + ((size_t)i * n_heads + h) * hd;
                for (int j = 0; j < half; ++j) {
                    const float x0 = x[j], x1 = x[j + half];
                    x[j] = x0 * cs[(size_t)j] - x1 * sn[(size_t)j];
                    x[j + half] = x1 * cs[(size_t)j] + x0 * sn[(size_t)j];
                }
            }
        }
    }

    // k and v (n, kv_dim) into the fp16 cache rows pos0..pos0+n-1.
    void kv_store(KvCache &cache, int layer, const Buffer &k, const Buffer &v, int pos0, int n) override {
        auto &c = static_cast<FastKv &>(cache);
        if (layer < 0 || layer >= c.n_layer || pos0 < 0 || pos0 + n > c.n_ctx)
            fail(EDGELLM_ERR_INTERNAL, "KV write past the context");
        const size_t kd = (size_t)c.kv_dim;
        check_range(k, 0, (size_t)n * kd);
        check_range(v, 0, (size_t)n * kd);
        k_.f32_to_f16(F(k), &c.k[(size_t)layer][(size_t)pos0 * kd], (int64_t)(n * kd));
        k_.f32_to_f16(F(v), &c.v[(size_t)layer][(size_t)pos0 * kd], (int64_t)(n * kd));
    }

    // out (n, n_head*hd): softmax(softcap(q k^T * scale)) v over the positions query i sees.
    void attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0, int n,
                   const AttentionParams &p) override {
        const auto &c = static_cast<const FastKv &>(cache);
        const int hd = p.head_dim, qd = p.n_head * hd, kd = p.n_head_kv * hd;
        const int group = p.n_head / p.n_head_kv;
        check_range(q, 0, (size_t)n * qd);
        check_range(out, 0, (size_t)n * qd);
        const uint16_t *K = c.k[(size_t)layer].data();
        const uint16_t *V = c.v[(size_t)layer].data();
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
                    float s = k_.dot_f16(K + (size_t)t * kd + kvh * hd, qi, hd) * p.scale;
                    if (p.softcap > 0.f) s = p.softcap * std::tanh(s / p.softcap);
                    score[(size_t)t] = s;
                    mx = std::max(mx, s);
                }
                float sum = 0.f;
                for (int t = first; t < end; ++t) {
                    score[(size_t)t] = std::exp(score[(size_t)t] - mx);
                    sum += score[(size_t)t];
                }
                float *oi = F(out) + (size_t)i * qd + h * hd;
                std::fill(oi, oi + hd, 0.f);
                const float inv = 1.f / sum;
                for (int t = first; t < end; ++t)
                    k_.axpy_f16(score[(size_t)t] * inv, V + (size_t)t * kd + kvh * hd, oi, hd);
            }
        });
    }

    void glu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n, Activation act) override {
        check_range(out, 0, n);
        float *o = F(out);
        const float *g = F(gate), *u = F(up);
        auto run = [&](int64_t b, int64_t e, int) {
            for (int64_t i = b; i < e; ++i) o[i] = activate(g[i], act) * u[i];
        };
        if (n >= 16384) pool_.parallel_for((int64_t)n, run);
        else run(0, (int64_t)n, 0);
    }

private:

    // x (n, K) -> act_ (int8 groups of 32).
    void quantize_input(const float *x, int n, int64_t K) {
        const int64_t G = K / kGroup;
        if (act_.q.size() < (size_t)n * K) act_.q.resize((size_t)n * K);
        if (act_.d.size() < (size_t)n * G * 4) {
            act_.d.resize((size_t)n * G * 4);
            act_.s.resize((size_t)n * G * 4);
        }
        act_.n = n;
        act_.K = K;
        act_.groups = G;
        auto run = [&](int64_t b, int64_t e, int) {
            for (int64_t i = b; i < e; ++i)
                k_.quantize_act(x + (size_t)i * K, K, reinterpret_cast<int8_t *>(act_.q.data()) + (size_t)i * K,
                                act_.d.as<float>() + (size_t)i * G, act_.s.as<float>() + (size_t)i * G);
        };
        if (n >= 4) pool_.parallel_for(n, run);
        else run(0, n, 0);
    }

    // F32 / F16 / BF16 weights: y[i][r] = W[r] . x[i], rows split across threads.
    void matmul_dense(float *y, const FastWeight &w, const float *x, int n, bool accumulate) {
        const QTensor &t = w.m;
        const int64_t R = t.rows, K = t.cols;
        pool_.parallel_for(R, [&](int64_t r0, int64_t r1, int) {
            std::vector<float> row(t.type == DType::BF16 ? (size_t)K : 0);
            for (int64_t r = r0; r < r1; ++r) {
                if (t.type == DType::BF16) dequantize_row(t, r, row.data());
                for (int i = 0; i < n; ++i) {
                    const float *xi = x + (size_t)i * K;
                    float s;
                    if (t.type == DType::F16) s = k_.dot_f16(t.data.as<uint16_t>() + r * K, xi, K);
                    else if (t.type == DType::F32) s = k_.dot_f32(t.data.as<float>() + r * K, xi, K);
                    else s = k_.dot_f32(row.data(), xi, K);
                    float &dst = y[(size_t)i * R + r];
                    dst = accumulate ? dst + s : s;
                }
            }
        });
    }

    const Kernels &k_;
    ThreadPool pool_;
    ActQ8 act_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_fast_backend(const CpuFastOptions &opt) {
    return std::make_unique<FastBackend>(opt);
}

}  // namespace edgellm
