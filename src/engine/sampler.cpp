// Sampling chain (see sampler.h). Penalties follow common practice: repetition penalty as in
// Hugging Face (positive logits divided, negative multiplied), frequency/presence as in OpenAI's
// API (subtract count * frequency + presence).
#include "engine/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "core/first_max.h"

namespace edgellm {

Sampler::Sampler(const edgellm_generate_params &p) : p_(p) {
    uint64_t seed = p.seed;
    if (seed == EDGELLM_SEED_RANDOM)
        seed = (uint64_t)std::chrono::high_resolution_clock::now().time_since_epoch().count();
    state_ = seed ^ 0x9E3779B97F4A7C15ull;
}

double Sampler::uniform() {
    // splitmix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

bool Sampler::penalizes() const {
    return (p_.repetition_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f) &&
           p_.penalty_last_n != 0;
}

bool Sampler::plain_greedy() const { return p_.temperature <= 0.0f && !penalizes(); }

int32_t Sampler::sample(float *logits, int32_t n_vocab, const std::vector<int32_t> &history) {
    if (penalizes() && !history.empty()) {
        size_t n = p_.penalty_last_n < 0 ? history.size()
                                         : std::min(history.size(), (size_t)p_.penalty_last_n);
        std::unordered_map<int32_t, int> counts;
        for (size_t i = history.size() - n; i < history.size(); ++i) counts[history[i]]++;
        for (const auto &kv : counts) {
            if (kv.first < 0 || kv.first >= n_vocab) continue;
            float &l = logits[kv.first];
            if (p_.repetition_penalty != 1.0f && p_.repetition_penalty > 0.0f)
                l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
            l -= (float)kv.second * p_.frequency_penalty + p_.presence_penalty;
        }
    }
    if (p_.temperature <= 0.0f) {
        // Greedy: the first maximum; NaN never wins, 0 if every logit is NaN (Backend::argmax, the
        // device path of greedy decoding, has the same rule). (A plain `>` scan keeps a NaN at
        // index 0 against every number but lets no other NaN win: a NaN is no score wherever it sits.)
        return (int32_t)first_max(logits, (size_t)n_vocab);
    }
    cand_.resize((size_t)n_vocab);
    for (int32_t i = 0; i < n_vocab; ++i) cand_[(size_t)i] = {logits[i], i};
    auto by_logit = [](const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t n = cand_.size();
    if (p_.top_k > 0 && (size_t)p_.top_k < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
        n = (size_t)p_.top_k;
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    // Softmax over the survivors (at temperature 1 for the filters, as llama.cpp's default chain).
    std::vector<double> prob(n);
    double mx = cand_[0].first, sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (prob[i] = std::exp((double)cand_[i].first - mx));
    for (size_t i = 0; i < n; ++i) prob[i] /= sum;
    if (p_.top_p > 0.0f && p_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += prob[i];
            if (cum >= p_.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p_.min_p > 0.0f) {
        size_t keep = 1;
        while (keep < n && prob[keep] >= p_.min_p * prob[0]) ++keep;
        n = keep;
    }
    // Temperature, then draw.
    sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (prob[i] = std::exp(((double)cand_[i].first - mx) / p_.temperature));
    double r = uniform() * sum;
    for (size_t i = 0; i < n; ++i) {
        r -= prob[i];
        if (r < 0) return cand_[i].second;
    }
    return cand_[n - 1].second;
}

}  // namespace edgellm
