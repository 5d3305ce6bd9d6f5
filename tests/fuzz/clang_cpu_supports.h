// Force-included into src/backend/cpu_fast/repack.cpp by tests/fuzz/CMakeLists.txt only: clang 14
// (Debian 12's) rejects __builtin_cpu_supports("f16c"), which GCC accepts. This maps the builtin
// to a function that answers "f16c" with "avx2" (every AVX2 CPU has F16C) and passes the other
// feature names through, so the fuzz build compiles the same dispatch as a GCC build.
#pragma once

#include <cstring>

static inline int edgellm_fuzz_cpu_supports(const char *f) {
    if (!std::strcmp(f, "avx2") || !std::strcmp(f, "f16c")) return __builtin_cpu_supports("avx2");
    if (!std::strcmp(f, "fma")) return __builtin_cpu_supports("fma");
    if (!std::strcmp(f, "avx512f")) return __builtin_cpu_supports("avx512f");
    if (!std::strcmp(f, "avx512vl")) return __builtin_cpu_supports("avx512vl");
    if (!std::strcmp(f, "avx512bw")) return __builtin_cpu_supports("avx512bw");
    if (!std::strcmp(f, "avx512vnni")) return __builtin_cpu_supports("avx512vnni");
    return 0;
}
#define __builtin_cpu_supports(f) edgellm_fuzz_cpu_supports(f)
