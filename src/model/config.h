// Hyper-parameters of a decoder-only transformer, read from config.json or GGUF metadata. What
// differs between the families (Llama, Qwen, Gemma, Phi, Mistral, SmolLM) is data here — biases,
// q/k norms, norm placement, activation, soft-caps, windows and RoPE per layer — which the one
// forward pass (src/engine/forward.cpp) reads; no other code branches on the architecture name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgellm {

enum class RopeScaling : int { None = 0, Linear = 1, Llama3 = 2, LongRope = 3 };

// The gated FFN's activation: out = act(gate) * up.
enum class Activation : int {
    SiLU = 0,      // x * sigmoid(x) (SwiGLU: Llama, Qwen, Phi, Mistral, SmolLM)
    GeluTanh = 1,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GeGLU: Gemma)
};

// Per-layer attention shape.
struct LayerConfig {
    int window = 0;       // sliding window: a query at p sees keys at p - window < j <= p; 0: all
    int rope = 0;         // which RoPE table (Model::rope): 0 global, 1 local; -1: no RoPE (NoPE)
};

struct ModelConfig {
    std::string architecture = "llama";  // the file's name for it (informative only)
    std::string name;
    int n_vocab = 0;
    int n_embd = 0;      // hidden size
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;    // usually n_embd / n_head (Qwen3, Gemma: set explicitly)
    int n_ff = 0;        // intermediate size
    int n_ctx_train = 0; // max_position_embeddings / context_length
    float rms_eps = 1e-5f;

    // -- RoPE ---------------------------------------------------------------------------------
    float rope_theta = 10000.0f;
    float rope_theta_local = 0.f;      // base of table 1 (Gemma 3 local layers); 0: table 1 = table 0
    int rope_dim = 0;                  // rotated dimensions per head (partial rotary); 0: head_dim
    RopeScaling rope_scaling = RopeScaling::None;
    float rope_factor = 1.0f;          // linear and llama3
    float rope_low_freq_factor = 1.0f; // llama3
    float rope_high_freq_factor = 4.0f;// llama3
    int rope_original_ctx = 8192;      // llama3 / longrope original_max_position_embeddings
    // longrope (Phi-3): per-dimension divisors for short and long contexts, and the factor cos and
    // sin are multiplied by (0: derived from rope_factor as transformers does).
    std::vector<float> rope_short_factors, rope_long_factors;
    float rope_attn_factor = 0.f;
    // Per-dimension divisors of the inverse frequencies (GGUF `rope_freqs.weight`, how llama.cpp
    // stores llama3 scaling); size rope_dim/2 when present, then applied instead of rope_scaling.
    std::vector<float> rope_freq_factors;

    // -- architecture as data -----------------------------------------------------------------
    bool tied_embeddings = false;
    bool attn_bias = false;        // q, k, v products have biases (Qwen2)
    bool qk_norm = false;          // per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3)
    bool sandwich_norm = false;    // RMSNorm of the attention and FFN outputs before the residual adds (Gemma 2/3)
    Activation act = Activation::SiLU;
    float attn_scale = 0.f;        // multiplier of q·k; 0: 1/sqrt(head_dim)
    float attn_softcap = 0.f;      // scores become cap * tanh(s / cap); 0: none (Gemma 2)
    float final_softcap = 0.f;     // the same for the logits
    float embd_scale = 1.f;        // token embeddings multiplied by this (Gemma: sqrt(n_embd))
    std::vector<LayerConfig> layers;  // n_layer entries (filled by finalize_config when empty)

    int64_t q_dim() const { return (int64_t)n_head * head_dim; }
    int64_t kv_dim() const { return (int64_t)n_head_kv * head_dim; }
    int rot_dim() const { return rope_dim > 0 ? rope_dim : head_dim; }
    float attention_scale() const;
};

// Fills defaults that depend on other fields (layers, head_dim) and checks that the shapes are
// consistent and within the library's limits; throws EDGELLM_ERR_INVALID_MODEL naming the field.
void finalize_config(ModelConfig &c);

// One RoPE table: rotate-half over the first rot_dim dimensions of each head (pairs (i, i +
// rot_dim/2)), the rest passed through; cos and sin multiplied by mscale.
struct RopeTable {
    int head_dim = 0;
    int rot_dim = 0;
    float mscale = 1.f;
    std::vector<float> inv_freq;  // rot_dim/2
};

// Per-dimension inverse frequencies of table `which` (0 global, 1 local) with the configured
// scaling applied. longrope: the long factors for a forward pass whose positions reach past
// rope_original_ctx (n_positions = its last position + 1), the short ones otherwise — per pass,
// as transformers switches them (keys already cached keep their rotation).
RopeTable rope_table(const ModelConfig &c, int which, int n_positions);
// Table 0's inverse frequencies (rot_dim/2).
std::vector<float> rope_inv_freq(const ModelConfig &c);

}  // namespace edgellm
