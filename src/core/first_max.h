// The greedy rule, shared by the sampler (src/engine/sampler.cpp) and the CPU backend's argmax:
// the index of the first maximum of v[0..n), n > 0; NaN never wins (-inf beats it) and n NaNs
// give 0. kernels/sample.cl implements the same rule on the device.
#pragma once

#include <cstddef>

namespace edgellm {

inline size_t first_max(const float *v, size_t n) {
    size_t best = 0;
    // v[best] != v[best] holds only while best is a NaN: then any number replaces it.
    for (size_t i = 1; i < n; ++i)
        if (v[i] > v[best] || (v[best] != v[best] && v[i] == v[i])) best = i;
    return best;
}

}  // namespace edgellm
