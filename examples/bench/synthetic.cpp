// Random weights for the benchmark's synthetic models: splitmix64 streams, one per row block,
// filled by a few threads (generating 8B of Q4 takes about a second per core-GB).
#include "synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "core/fp16.h"

namespace edgellm {
namespace bench {

bool shape_config(const std::string &name, ModelConfig &c) {
    c = ModelConfig();
    c.name = name;
    if (name == "llama3-8b") {
        c.n_vocab = 128256; c.n_embd = 4096; c.n_layer = 32; c.n_head = 32; c.n_head_kv = 8;
        c.head_dim = 128; c.n_ff = 14336; c.n_ctx_train = 8192; c.rope_theta = 500000.f;
        c.rope_scaling = RopeScaling::Llama3; c.rope_factor = 8.f;
    } else if (name == "llama3.2-1b") {
        c.n_vocab = 128256; c.n_embd = 2048; c.n_layer = 16; c.n_head = 32; c.n_head_kv = 8;
        c.head_dim = 64; c.n_ff = 8192; c.n_ctx_train = 131072; c.rope_theta = 500000.f;
        c.rope_scaling = RopeScaling::Llama3; c.rope_factor = 32.f; c.tied_embeddings = true;
    } else if (name == "smollm2-135m") {
        c.n_vocab = 49152; c.n_embd = 576; c.n_layer = 30; c.n_head = 9; c.n_head_kv = 3;
        c.head_dim = 64; c.n_ff = 1536; c.n_ctx_train = 8192; c.rope_theta = 100000.f;
        c.tied_embeddings = true;
    } else {
        return false;
    }
    return true;
}

namespace {

inline uint64_t splitmix(uint64_t &s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Runs f(r0, r1) over row ranges on all cores.
template <typename F> void parallel_rows(int64_t rows, F f) {
    unsigned nt = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    std::vector<std::thread> th;
    int64_t per = (rows + nt - 1) / nt;
    for (unsigned i = 0; i < nt; ++i) {
        int64_t r0 = i * per, r1 = std::min(rows, r0 + per);
        if (r0 < r1) th.emplace_back(f, r0, r1);
    }
    for (auto &t : th) t.join();
}

QTensor random_matrix(DType t, int64_t rows, int64_t cols, uint64_t seed) {
    QTensor q;
    q.allocate(t, rows, cols, false);
    // Weight magnitude ~ 1/sqrt(cols) keeps each product's output near unit scale.
    const float amp = 1.0f / std::sqrt((float)cols);
    const size_t row_bytes = QTensor::row_data_bytes(t, cols);
    const int64_t G = cols / kGroupSize;
    parallel_rows(rows, [&](int64_t r0, int64_t r1) {
        uint64_t s = seed * 0x100000001b3ull + (uint64_t)r0;
        uint8_t *d = q.data.data();
        for (int64_t r = r0; r < r1; ++r) {
            uint8_t *row = d + (size_t)r * row_bytes;
            if (t == DType::F32) {
                float *f = reinterpret_cast<float *>(row);
                for (int64_t k = 0; k < cols; ++k)
                    f[k] = amp * ((float)(splitmix(s) >> 40) / 8388608.0f - 1.0f);
            } else if (t == DType::F16) {
                uint16_t *h = reinterpret_cast<uint16_t *>(row);
                for (int64_t k = 0; k < cols; ++k)
                    h[k] = f32_to_fp16(amp * ((float)(splitmix(s) >> 40) / 8388608.0f - 1.0f));
            } else {
                for (size_t i = 0; i < row_bytes; i += 8) {
                    uint64_t v = splitmix(s);
                    std::memcpy(row + i, &v, std::min<size_t>(8, row_bytes - i));
                }
                uint16_t *sc = q.scales.as<uint16_t>() + r * G;
                const float d0 = t == DType::Q4 ? amp / 4.6f : amp / 73.f;  // unit-variance-ish q
                for (int64_t g = 0; g < G; ++g)
                    sc[g] = f32_to_fp16(d0 * (0.75f + (float)(splitmix(s) & 1023) / 2048.f));
            }
        }
    });
    return q;
}

}  // namespace

LoadedModel synthetic_model(const ModelConfig &c, DType t, unsigned seed) {
    LoadedModel lm;
    lm.config = c;
    lm.source_format = "synthetic";
    lm.weights_format = t == DType::Q4 ? EDGELLM_WEIGHTS_Q4 : t == DType::Q8_0 ? EDGELLM_WEIGHTS_Q8_0
                        : t == DType::F16 ? EDGELLM_WEIGHTS_F16 : EDGELLM_WEIGHTS_F32;
    uint64_t sd = seed;
    ModelWeights &W = lm.weights;
    W.tok_embd = random_matrix(t, c.n_vocab, c.n_embd, ++sd);
    W.out_norm.assign((size_t)c.n_embd, 1.0f);
    if (!c.tied_embeddings) W.output = random_matrix(t, c.n_vocab, c.n_embd, ++sd);
    for (int l = 0; l < c.n_layer; ++l) {
        LayerWeights L;
        L.attn_norm.assign((size_t)c.n_embd, 1.0f);
        L.ffn_norm.assign((size_t)c.n_embd, 1.0f);
        L.wq = random_matrix(t, c.q_dim(), c.n_embd, ++sd);
        L.wk = random_matrix(t, c.kv_dim(), c.n_embd, ++sd);
        L.wv = random_matrix(t, c.kv_dim(), c.n_embd, ++sd);
        L.wo = random_matrix(t, c.n_embd, c.q_dim(), ++sd);
        L.w_gate = random_matrix(t, c.n_ff, c.n_embd, ++sd);
        L.w_up = random_matrix(t, c.n_ff, c.n_embd, ++sd);
        L.w_down = random_matrix(t, c.n_embd, c.n_ff, ++sd);
        W.layers.push_back(std::move(L));
    }
    return lm;
}

std::unique_ptr<Model> model_from_synthetic(LoadedModel &&lm, std::unique_ptr<Backend> backend) {
    auto m = std::make_unique<Model>();
    m->config = lm.config;
    finalize_config(m->config);
    m->weights_format = lm.weights_format;
    m->backend = std::move(backend);
    m->device_name = m->backend->device_name();
    Backend &be = *m->backend;
    auto mat = [&](QTensor &t) {
        m->n_params += (uint64_t)t.rows * (uint64_t)t.cols;
        auto w = be.upload_matrix(std::move(t));
        m->weight_bytes += w->bytes;
        t = QTensor();
        return w;
    };
    auto vec = [&](std::vector<float> &v) {
        auto w = be.upload_vector(std::move(v));
        m->weight_bytes += w->bytes;
        return w;
    };
    ModelWeights &W = lm.weights;
    m->weights.tok_embd = mat(W.tok_embd);
    for (LayerWeights &L : W.layers) {
        DeviceLayer D;
        D.attn_norm = vec(L.attn_norm);
        D.ffn_norm = vec(L.ffn_norm);
        D.wq = mat(L.wq);
        D.wk = mat(L.wk);
        D.wv = mat(L.wv);
        D.wo = mat(L.wo);
        D.w_gate = mat(L.w_gate);
        D.w_up = mat(L.w_up);
        D.w_down = mat(L.w_down);
        m->weights.layers.push_back(std::move(D));
    }
    m->weights.out_norm = vec(W.out_norm);
    if (!W.output.empty()) m->weights.output = mat(W.output);
    return m;
}

}  // namespace bench
}  // namespace edgellm
