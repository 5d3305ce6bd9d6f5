// The fast CPU backend (EDGELLM_BACKEND_CPU): int8 activations against repacked Q4 / Q8_0 tiles
// with integer dot products, an fp16 KV cache, a persistent thread pool. Its results follow the
// scalar reference backend (backend/cpu) within the tolerances tests/unit/test_cpu_fast*.cpp state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace edgellm {

struct CpuFastOptions {
    int n_threads = 0;    // 0: hardware concurrency
    std::string max_isa;  // cap on the kernel level ("scalar", "avx2", "avx512vnni", "neon",
                          // "dotprod"); empty: EDGELLM_CPU_ISA if set, else the best the CPU runs
    std::vector<int> cpus;  // worker i runs on cpus[i % size]; empty: EDGELLM_CPU_AFFINITY ("4-7",
                            // "0,2") if set, else unpinned
};

std::unique_ptr<Backend> make_cpu_fast_backend(const CpuFastOptions &opt);

// Parses a CPU list such as "4-7" or "0,2,4-5"; false on a malformed list.
bool parse_cpu_list(const char *s, std::vector<int> &out);

}  // namespace edgellm
