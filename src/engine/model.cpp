// Model opening: load the file, choose a backend (AUTO prefers an OpenCL GPU, else the CPU, and
// says why), move every tensor onto it one by one so the host copy is freed as it goes.
#include "engine/model.h"
#include "core/env.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "backend/cpu_fast/cpu_fast_backend.h"
#include "core/error.h"

#ifdef EDGELLM_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

namespace edgellm {

namespace {

std::unique_ptr<Backend> choose_backend(const ModelOpenOptions &opt, std::string &note) {
    CpuBackendOptions ref;
    ref.n_threads = opt.n_threads;
    if (opt.backend == EDGELLM_BACKEND_CPU_REFERENCE) return make_cpu_backend(ref);
    CpuFastOptions cpu;
    cpu.n_threads = opt.n_threads;
    if (opt.backend == EDGELLM_BACKEND_CPU) return make_cpu_fast_backend(cpu);
#ifdef EDGELLM_WITH_OPENCL
    OpenClBackendOptions ocl;
    ocl.device_index = opt.device_index;
    ocl.log = opt.log;
    ocl.row = opt.opencl_row;
    ocl.tune = opt.opencl_tune;
    if (opt.backend == EDGELLM_BACKEND_OPENCL) return make_opencl_backend(ocl);
    // AUTO: an OpenCL GPU, or any device the user named explicitly.
    bool named = opt.device_index >= 0 || !env("EDGELLM_OPENCL_DEVICE").empty();
    std::vector<edgellm_device_info> devs = list_opencl_devices();
    bool have_gpu = std::any_of(devs.begin(), devs.end(), [](const edgellm_device_info &d) { return d.is_gpu != 0; });
    if (named || have_gpu) {
        try {
            return make_opencl_backend(ocl);
        } catch (const Error &e) {
            note = std::string("OpenCL backend unavailable (") + e.what() + "); using the CPU";
        }
    } else {
        note = devs.empty() ? "no OpenCL platform found; using the CPU"
                            : "no OpenCL GPU device found; using the CPU";
    }
#else
    if (opt.backend == EDGELLM_BACKEND_OPENCL)
        fail(EDGELLM_ERR_UNSUPPORTED, "this build of libedgellm has no OpenCL backend");
    note = "built without OpenCL; using the CPU";
#endif
    opt.log.log(EDGELLM_LOG_INFO, "%s", note.c_str());
    return make_cpu_fast_backend(cpu);
}

uint64_t count_params(const QTensor &t) { return (uint64_t)t.rows * (uint64_t)t.cols; }

}  // namespace

bool Model::is_eog(int32_t token) const {
    return std::find(eog_ids.begin(), eog_ids.end(), token) != eog_ids.end();
}

std::unique_ptr<Model> Model::open(const std::string &path, const ModelOpenOptions &opt) {
    auto t0 = std::chrono::steady_clock::now();
    LoadOptions lo;
    lo.weights = opt.weights;
    lo.context_length = opt.context_length;
    lo.log = opt.log;
    if (opt.progress) {
        auto cb = opt.progress;
        void *ud = opt.progress_user_data;
        lo.progress = [cb, ud](float p) { return cb(p, ud) == 0; };
    }
    LoadedModel lm = load_model(path, lo);
    std::string note;
    std::unique_ptr<Backend> be = choose_backend(opt, note);
    auto m = from_loaded(std::move(lm), std::move(be), opt.log);
    m->backend_note = note;
    m->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (opt.progress) opt.progress(1.0f, opt.progress_user_data);
    m->log.log(EDGELLM_LOG_INFO, "loaded %s: %d layers, %llu params, %.1f MB of weights on %s in %.0f ms",
               path.c_str(), m->config.n_layer, (unsigned long long)m->n_params,
               m->weight_bytes / 1e6, m->device_name.c_str(), m->load_ms);
    return m;
}

std::unique_ptr<Model> Model::from_loaded(LoadedModel &&lm, std::unique_ptr<Backend> backend,
                                          const Logger &log) {
    auto m = std::make_unique<Model>();
    m->log = log;
    m->config = lm.config;
    finalize_config(m->config);
    const ModelConfig &c = m->config;
    if ((int)lm.weights.layers.size() != c.n_layer)
        fail(EDGELLM_ERR_INVALID_MODEL, "model has %zu layers of weights, config says %d",
             lm.weights.layers.size(), c.n_layer);
    m->chat_template = lm.chat_template;
    m->bos_id = lm.bos_id;
    m->eos_id = lm.eos_id;
    m->weights_format = lm.weights_format;
    m->backend = std::move(backend);
    m->device_name = m->backend->device_name();

    if (!lm.tokenizer.hf_dir.empty() || lm.tokenizer.gguf) {
        m->tokenizer = Tokenizer::create(lm.tokenizer);
        if (m->chat_template.empty()) m->chat_template = m->tokenizer->chat_template;
        if (m->bos_id < 0) m->bos_id = m->tokenizer->bos_id;
        if (m->eos_id < 0) m->eos_id = m->tokenizer->eos_id;
        for (int32_t id : m->tokenizer->eog_ids) m->eog_ids.push_back(id);
    }
    for (int32_t id : lm.eos_ids) m->eog_ids.push_back(id);
    if (m->eos_id >= 0) m->eog_ids.push_back(m->eos_id);
    std::sort(m->eog_ids.begin(), m->eog_ids.end());
    m->eog_ids.erase(std::unique(m->eog_ids.begin(), m->eog_ids.end()), m->eog_ids.end());
    if (m->eos_id < 0 && !m->eog_ids.empty()) m->eos_id = m->eog_ids.front();

    Backend &be = *m->backend;
    auto mat = [&](QTensor &t, int64_t rows, int64_t cols, const char *what) {
        if (t.rows != rows || t.cols != cols)
            fail(EDGELLM_ERR_INVALID_MODEL, "tensor %s has shape (%lld, %lld), expected (%lld, %lld)", what,
                 (long long)t.rows, (long long)t.cols, (long long)rows, (long long)cols);
        m->n_params += count_params(t);
        auto w = be.upload_matrix(std::move(t));
        m->weight_bytes += w->bytes;
        t = QTensor();  // the host copy is gone either way
        return w;
    };
    auto vec = [&](std::vector<float> &v, size_t n, const char *what) {
        if (v.size() != n) fail(EDGELLM_ERR_INVALID_MODEL, "tensor %s has %zu values, expected %zu", what, v.size(), n);
        m->n_params += n;
        auto w = be.upload_vector(std::move(v));
        m->weight_bytes += w->bytes;
        std::vector<float>().swap(v);
        return w;
    };
    ModelWeights &W = lm.weights;
    m->weights.tok_embd = mat(W.tok_embd, c.n_vocab, c.n_embd, "token_embd");
    for (int l = 0; l < c.n_layer; ++l) {
        LayerWeights &L = W.layers[(size_t)l];
        DeviceLayer D;
        D.attn_norm = vec(L.attn_norm, (size_t)c.n_embd, "attn_norm");
        D.ffn_norm = vec(L.ffn_norm, (size_t)c.n_embd, "ffn_norm");
        D.wq = mat(L.wq, c.q_dim(), c.n_embd, "attn_q");
        D.wk = mat(L.wk, c.kv_dim(), c.n_embd, "attn_k");
        D.wv = mat(L.wv, c.kv_dim(), c.n_embd, "attn_v");
        D.wo = mat(L.wo, c.n_embd, c.q_dim(), "attn_output");
        D.w_gate = mat(L.w_gate, c.n_ff, c.n_embd, "ffn_gate");
        D.w_up = mat(L.w_up, c.n_ff, c.n_embd, "ffn_up");
        D.w_down = mat(L.w_down, c.n_embd, c.n_ff, "ffn_down");
        if (c.attn_bias) {
            D.bq = vec(L.bq, (size_t)c.q_dim(), "attn_q.bias");
            D.bk = vec(L.bk, (size_t)c.kv_dim(), "attn_k.bias");
            D.bv = vec(L.bv, (size_t)c.kv_dim(), "attn_v.bias");
        }
        if (c.qk_norm) {
            D.q_norm = vec(L.q_norm, (size_t)c.head_dim, "attn_q_norm");
            D.k_norm = vec(L.k_norm, (size_t)c.head_dim, "attn_k_norm");
        }
        if (c.sandwich_norm) {
            D.post_attn_norm = vec(L.post_attn_norm, (size_t)c.n_embd, "post_attention_norm");
            D.post_ffn_norm = vec(L.post_ffn_norm, (size_t)c.n_embd, "post_ffw_norm");
        }
        m->weights.layers.push_back(std::move(D));
    }
    m->weights.out_norm = vec(W.out_norm, (size_t)c.n_embd, "output_norm");
    if (!W.output.empty()) m->weights.output = mat(W.output, c.n_vocab, c.n_embd, "output");
    return m;
}

}  // namespace edgellm
