// aarch64 kernel levels of the fast backend: plain Advanced SIMD (every aarch64 CPU) and ARMv8.2
// dotprod (sdot; the RK3588's A76 and A55 have it), compiled into one binary through a target
// region and chosen at run time from HWCAP_ASIMDDP, so the build also runs where dotprod is absent.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstdint>

#include "backend/cpu_fast/kernels.h"

namespace edgellm {
namespace cpu_fast {

namespace neon {
#define EL_DOT 0
#include "backend/cpu_fast/kernels_arm.inc"
#undef EL_DOT
}  // namespace neon

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
namespace neon_dot {
#define EL_DOT 1
#include "backend/cpu_fast/kernels_arm.inc"
#undef EL_DOT
}  // namespace neon_dot
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace {
const Kernels kNeon = {Isa::Neon,     neon::quantize_act, neon::gemm_q,    neon::dot_f32,
                       neon::dot_f16, neon::axpy_f16,     neon::f32_to_f16};
const Kernels kNeonDot = {Isa::NeonDot,         neon_dot::quantize_act, neon_dot::gemm_q,
                          neon_dot::dot_f32,    neon_dot::dot_f16,      neon_dot::axpy_f16,
                          neon_dot::f32_to_f16};
}  // namespace

const Kernels &kernels_neon() { return kNeon; }
const Kernels &kernels_neon_dot() { return kNeonDot; }

}  // namespace cpu_fast
}  // namespace edgellm

#endif
