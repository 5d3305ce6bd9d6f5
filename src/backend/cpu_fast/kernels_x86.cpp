// x86-64 kernel levels of the fast backend: AVX2 (+FMA, F16C) and AVX-512 VNNI (the same
// kernels with vpdpbusd on 256-bit registers, which keeps clocks up and halves the integer
// instructions per group). Both are compiled into every x86-64 build through target regions and
// chosen at run time, so one binary runs on any x86-64 CPU.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "backend/cpu_fast/kernels.h"

namespace edgellm {
namespace cpu_fast {

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
namespace avx2 {
#define EL_VNNI 0
#include "backend/cpu_fast/kernels_x86.inc"
#undef EL_VNNI
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")
#endif
namespace avx512vnni {
#define EL_VNNI 1
#include "backend/cpu_fast/kernels_x86.inc"
#undef EL_VNNI
}  // namespace avx512vnni
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace {
const Kernels kAvx2 = {Isa::Avx2,        avx2::quantize_act, avx2::gemm_q,  avx2::dot_f32,
                       avx2::dot_f16,    avx2::axpy_f16,     avx2::f32_to_f16};
const Kernels kAvx512 = {Isa::Avx512Vnni,        avx512vnni::quantize_act, avx512vnni::gemm_q,
                         avx512vnni::dot_f32,    avx512vnni::dot_f16,      avx512vnni::axpy_f16,
                         avx512vnni::f32_to_f16};
}  // namespace

const Kernels &kernels_avx2() { return kAvx2; }
const Kernels &kernels_avx512vnni() { return kAvx512; }

}  // namespace cpu_fast
}  // namespace edgellm

#endif
