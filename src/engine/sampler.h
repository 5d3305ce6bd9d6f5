// Token sampling: repetition / frequency / presence penalties over a recent window, then greedy
// argmax or top-k → top-p → min-p → temperature → a draw from a seeded, platform-independent RNG.
#pragma once

#include <cstdint>
#include <vector>

#include "edgellm/edgellm.h"

namespace edgellm {

class Sampler {
public:
    explicit Sampler(const edgellm_generate_params &p);
    // logits: n_vocab values (modified in place). history: tokens so far (for penalties).
    int32_t sample(float *logits, int32_t n_vocab, const std::vector<int32_t> &history);
    // Whether sample() is the greedy argmax of the logits as they are (temperature <= 0, no
    // penalty changes a logit): then Backend::argmax, the same rule, may pick the token instead.
    bool plain_greedy() const;

private:
    bool penalizes() const;  // some penalty changes the logits of tokens in the history
    double uniform();  // [0, 1), from splitmix64/xoshiro-style bits: same on every platform
    edgellm_generate_params p_;
    uint64_t state_;
    std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace edgellm
