// RoPE frequencies, including the llama3, linear and longrope rules of Hugging Face transformers
// (modeling_rope_utils.py), and the checks and defaults that make a ModelConfig usable.
#include "model/config.h"

#include <cmath>

#include "core/error.h"

namespace edgellm {

float ModelConfig::attention_scale() const {
    return attn_scale > 0.f ? attn_scale : 1.0f / std::sqrt((float)head_dim);
}

void finalize_config(ModelConfig &c) {
    // Limits keep every product of two fields below 2^31 (buffer sizes are computed in 64 bits,
    // kernel indices in 32).
    constexpr int kMaxDim = 1 << 20, kMaxLayers = 4096, kMaxHeads = 4096, kMaxVocab = 1 << 24;
    auto in = [](const char *what, int v, int lo, int hi) {
        if (v < lo || v > hi)
            fail(EDGELLM_ERR_INVALID_MODEL, "model hyper-parameter %s = %d outside [%d, %d]", what, v, lo, hi);
    };
    in("n_layer", c.n_layer, 1, kMaxLayers);
    in("n_embd", c.n_embd, 1, kMaxDim);
    in("n_head", c.n_head, 1, kMaxHeads);
    in("n_head_kv", c.n_head_kv, 1, kMaxHeads);
    if (c.head_dim == 0 && c.n_embd % c.n_head == 0) c.head_dim = c.n_embd / c.n_head;
    in("head_dim", c.head_dim, 2, 1024);
    in("n_ff", c.n_ff, 1, kMaxDim);
    in("n_vocab", c.n_vocab, 1, kMaxVocab);
    if (c.head_dim % 2 != 0) fail(EDGELLM_ERR_INVALID_MODEL, "head_dim %d is odd", c.head_dim);
    if (c.n_head % c.n_head_kv != 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "n_head %d is not a multiple of n_head_kv %d", c.n_head, c.n_head_kv);
    if (c.q_dim() > kMaxDim) fail(EDGELLM_ERR_INVALID_MODEL, "n_head * head_dim = %lld exceeds %d", (long long)c.q_dim(), kMaxDim);
    if (c.rope_dim < 0 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "rotary dimensions %d outside [0, head_dim %d] or odd", c.rope_dim, c.head_dim);
    if (!(c.rms_eps >= 0.f && c.rms_eps < 1.f)) fail(EDGELLM_ERR_INVALID_MODEL, "rms_norm_eps %g outside [0, 1)", (double)c.rms_eps);
    if (!(c.rope_theta > 0.f && std::isfinite(c.rope_theta)))
        fail(EDGELLM_ERR_INVALID_MODEL, "rope_theta %g is not a positive number", (double)c.rope_theta);
    if (!(c.attn_softcap >= 0.f && c.final_softcap >= 0.f && c.attn_scale >= 0.f && std::isfinite(c.embd_scale)))
        fail(EDGELLM_ERR_INVALID_MODEL, "soft-cap, attention scale or embedding scale is negative or not finite");
    // The remaining float fields come from model files: anything not finite, or not positive
    // where a divisor or base, would turn into NaN logits rather than an error.
    if (!std::isfinite(c.attn_scale) || !std::isfinite(c.attn_softcap) || !std::isfinite(c.final_softcap))
        fail(EDGELLM_ERR_INVALID_MODEL, "attention scale or soft-cap is not finite");
    if (!(c.rope_theta_local >= 0.f && std::isfinite(c.rope_theta_local)))
        fail(EDGELLM_ERR_INVALID_MODEL, "local rope_theta %g is not a non-negative number", (double)c.rope_theta_local);
    if (!(c.rope_attn_factor >= 0.f && std::isfinite(c.rope_attn_factor)))
        fail(EDGELLM_ERR_INVALID_MODEL, "rope attention factor %g is not a non-negative number", (double)c.rope_attn_factor);
    for (const std::vector<float> *v : {&c.rope_short_factors, &c.rope_long_factors, &c.rope_freq_factors})
        for (float f : *v)
            if (!(f > 0.f && std::isfinite(f))) fail(EDGELLM_ERR_INVALID_MODEL, "rope frequency factor %g is not positive", (double)f);
    if (c.layers.empty()) c.layers.assign((size_t)c.n_layer, LayerConfig());
    if ((int)c.layers.size() != c.n_layer)
        fail(EDGELLM_ERR_INVALID_MODEL, "%zu per-layer entries for %d layers", c.layers.size(), c.n_layer);
    for (const LayerConfig &l : c.layers) {
        if (l.window < 0) fail(EDGELLM_ERR_INVALID_MODEL, "negative sliding window %d", l.window);
        if (l.rope < -1 || l.rope > 1) fail(EDGELLM_ERR_INVALID_MODEL, "RoPE table %d does not exist", l.rope);
    }
}

RopeTable rope_table(const ModelConfig &c, int which, int n_positions) {
    RopeTable t;
    t.head_dim = c.head_dim;
    t.rot_dim = c.rot_dim();
    const int half = t.rot_dim / 2;
    t.inv_freq.resize((size_t)half);
    const bool local = which == 1 && c.rope_theta_local > 0.f;
    const double base = local ? c.rope_theta_local : c.rope_theta;
    // Gemma 3 scales only its global layers; local ones use the plain base.
    const RopeScaling scaling = local ? RopeScaling::None : c.rope_scaling;
    const std::vector<float> *ext = nullptr;
    if (scaling == RopeScaling::LongRope) {
        const bool use_long = n_positions > c.rope_original_ctx && !c.rope_long_factors.empty();
        ext = use_long ? &c.rope_long_factors : &c.rope_short_factors;
        if ((int)ext->size() != half) ext = nullptr;
        double factor = c.rope_original_ctx > 0 && c.n_ctx_train > 0 ? (double)c.n_ctx_train / c.rope_original_ctx : 1.0;
        double af = c.rope_attn_factor;
        if (af <= 0.0)
            af = factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log((double)c.rope_original_ctx));
        t.mscale = (float)af;
    }
    for (int i = 0; i < half; ++i) {
        // Computed in double then rounded, as the reference computes base ** (2i/d) in float64
        // before casting (differences stay far below the test tolerances either way).
        double f = 1.0 / std::pow(base, (2.0 * i) / (double)t.rot_dim);
        if (!local && !c.rope_freq_factors.empty()) {
            if ((int)c.rope_freq_factors.size() == half) f /= (double)c.rope_freq_factors[i];
        } else if (ext) {
            f /= (double)(*ext)[i];
        } else if (scaling == RopeScaling::Linear) {
            f /= c.rope_factor;
        } else if (scaling == RopeScaling::Llama3) {
            const double pi = 3.14159265358979323846;
            double low_wavelen = c.rope_original_ctx / c.rope_low_freq_factor;
            double high_wavelen = c.rope_original_ctx / c.rope_high_freq_factor;
            double wavelen = 2.0 * pi / f;
            if (wavelen > low_wavelen) {
                f = f / c.rope_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (c.rope_original_ctx / wavelen - c.rope_low_freq_factor) /
                                (c.rope_high_freq_factor - c.rope_low_freq_factor);
                f = (1.0 - smooth) * f / c.rope_factor + smooth * f;
            }
        }
        t.inv_freq[(size_t)i] = (float)f;
    }
    return t;
}

std::vector<float> rope_inv_freq(const ModelConfig &c) { return rope_table(c, 0, 0).inv_freq; }

}  // namespace edgellm
