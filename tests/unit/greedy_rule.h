// The greedy rule written as its definition, for the tests of Backend::argmax and the sampler:
// the lowest index of the largest number; 0 when every value is NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

inline int32_t greedy_rule(const std::vector<float> &v) {
    int32_t best = -1;
    for (size_t i = 0; i < v.size(); ++i)
        if (!std::isnan(v[i]) && (best < 0 || v[i] > v[(size_t)best])) best = (int32_t)i;
    return best < 0 ? 0 : best;
}
