// A loaded model: config, read-only weights on a backend, tokenizer and chat template. Immutable
// after construction and shared by every session; sessions serialise their use of the backend
// through compute_mutex (one GPU queue, one CPU thread pool).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/log.h"
#include "model/config.h"
#include "model/loader.h"
#include "tokenizer/tokenizer.h"

namespace edgellm {

struct DeviceLayer {
    std::unique_ptr<Weight> attn_norm, ffn_norm;
    std::unique_ptr<Weight> wq, wk, wv, wo, w_gate, w_up, w_down;
    std::unique_ptr<Weight> bq, bk, bv;                      // config.attn_bias
    std::unique_ptr<Weight> q_norm, k_norm;                  // config.qk_norm
    std::unique_ptr<Weight> post_attn_norm, post_ffn_norm;   // config.sandwich_norm
};

struct DeviceWeights {
    std::unique_ptr<Weight> tok_embd;
    std::unique_ptr<Weight> out_norm;
    std::unique_ptr<Weight> output;  // null when tied: use tok_embd
    std::vector<DeviceLayer> layers;
    const Weight &lm_head() const { return output ? *output : *tok_embd; }
};

struct ModelOpenOptions {
    int backend = EDGELLM_BACKEND_AUTO;
    int weights = EDGELLM_WEIGHTS_AUTO;
    int n_threads = 0;
    uint32_t context_length = 0;
    int device_index = -1;
    std::string opencl_row, opencl_tune;  // OpenClBackendOptions::row / tune
    edgellm_progress_callback progress = nullptr;
    void *progress_user_data = nullptr;
    Logger log;
};

class Model {
public:
    // Loads `path`, picks a backend and moves the weights onto it. Throws Error.
    static std::unique_ptr<Model> open(const std::string &path, const ModelOpenOptions &opt);
    // Builds a model from weights already in memory (synthetic benchmarks, tests).
    static std::unique_ptr<Model> from_loaded(LoadedModel &&lm, std::unique_ptr<Backend> backend,
                                              const Logger &log);

    bool is_eog(int32_t token) const;

    ModelConfig config;
    std::unique_ptr<Backend> backend;
    DeviceWeights weights;
    std::unique_ptr<Tokenizer> tokenizer;  // may be null for synthetic models
    std::string chat_template;             // the model's own, "" if none
    std::vector<int32_t> eog_ids;
    int32_t bos_id = -1, eos_id = -1;
    int weights_format = EDGELLM_WEIGHTS_AUTO;
    uint64_t n_params = 0;
    uint64_t weight_bytes = 0;
    double load_ms = 0;
    std::string device_name;
    std::string backend_note;
    Logger log;
    mutable std::mutex compute_mutex;
};

}  // namespace edgellm
