// The host copy of a model's weights in run formats, as produced by the loaders (src/model/).
// Backends take these over tensor by tensor (and may free each host copy once uploaded).
// Optional tensors are empty when the architecture has none (ModelConfig says which it has).
#pragma once

#include <vector>

#include "model/config.h"
#include "model/tensor.h"

namespace edgellm {

struct LayerWeights {
    std::vector<float> attn_norm;  // (n_embd)
    std::vector<float> ffn_norm;   // (n_embd)
    QTensor wq;                    // (q_dim, n_embd)    rows in HF order (rotate-half RoPE)
    QTensor wk;                    // (kv_dim, n_embd)   rows in HF order
    QTensor wv;                    // (kv_dim, n_embd)
    QTensor wo;                    // (n_embd, q_dim)
    QTensor w_gate;                // (n_ff, n_embd)
    QTensor w_up;                  // (n_ff, n_embd)
    QTensor w_down;                // (n_embd, n_ff)
    // config.attn_bias: (q_dim), (kv_dim), (kv_dim)
    std::vector<float> bq, bk, bv;
    // config.qk_norm: (head_dim) each
    std::vector<float> q_norm, k_norm;
    // config.sandwich_norm: (n_embd) each, applied to the attention / FFN output
    std::vector<float> post_attn_norm, post_ffn_norm;
};

struct ModelWeights {
    QTensor tok_embd;              // (n_vocab, n_embd)
    std::vector<float> out_norm;   // (n_embd)
    QTensor output;                // (n_vocab, n_embd); empty when tied to tok_embd
    std::vector<LayerWeights> layers;
};

}  // namespace edgellm
