// Hyper-parameters of a Llama-family model, read from config.json or GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgellm {

enum class RopeScaling : int { None = 0, Linear = 1, Llama3 = 2 };

struct ModelConfig {
    std::string architecture = "llama";
    std::string name;
    int n_vocab = 0;
    int n_embd = 0;      // hidden size
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;    // usually n_embd / n_head
    int n_ff = 0;        // intermediate size
    int n_ctx_train = 0; // max_position_embeddings / context_length
    float rms_eps = 1e-5f;
    float rope_theta = 10000.0f;
    RopeScaling rope_scaling = RopeScaling::None;
    float rope_factor = 1.0f;          // linear and llama3
    float rope_low_freq_factor = 1.0f; // llama3
    float rope_high_freq_factor = 4.0f;// llama3
    int rope_original_ctx = 8192;      // llama3 original_max_position_embeddings
    bool tied_embeddings = false;
    // Per-dimension divisors of the inverse frequencies (GGUF `rope_freqs.weight`, how llama.cpp
    // stores llama3 scaling); size head_dim/2 when present, then applied instead of rope_scaling.
    std::vector<float> rope_freq_factors;

    int q_dim() const { return n_head * head_dim; }
    int kv_dim() const { return n_head_kv * head_dim; }
};

// Per-dimension inverse frequencies for rotate-half RoPE (HF convention: pairs (i, i + d/2)),
// llama3 / linear scaling applied. Size head_dim/2.
std::vector<float> rope_inv_freq(const ModelConfig &c);

}  // namespace edgellm
