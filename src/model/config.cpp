// RoPE frequencies, including the llama3 and linear scaling rules of Hugging Face transformers
// (modeling_rope_utils.py: _compute_llama3_parameters, _compute_linear_scaling_rope_parameters).
#include "model/config.h"

#include <cmath>

namespace edgellm {

std::vector<float> rope_inv_freq(const ModelConfig &c) {
    const int half = c.head_dim / 2;
    std::vector<float> inv(half);
    for (int i = 0; i < half; ++i) {
        // Computed in double then rounded, as the reference computes base ** (2i/d) in float64
        // before casting (differences stay far below the test tolerances either way).
        double f = 1.0 / std::pow((double)c.rope_theta, (2.0 * i) / (double)c.head_dim);
        if (!c.rope_freq_factors.empty()) {
            if ((int)c.rope_freq_factors.size() == half) f /= (double)c.rope_freq_factors[i];
        } else if (c.rope_scaling == RopeScaling::Linear) {
            f /= c.rope_factor;
        } else if (c.rope_scaling == RopeScaling::Llama3) {
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
        inv[i] = (float)f;
    }
    return inv;
}

}  // namespace edgellm
