// The OpenCL tuning table: one row of block sizes and switches per device family, chosen by the
// device's vendor, name and driver (first match wins), with one parser for overrides
// ("key=value,..." from EDGELLM_OPENCL_TUNE or the model params) and a way to force a row by name
// (EDGELLM_OPENCL_ROW or the params), so that a row's exact kernels run on any device.
#pragma once

#include <string>
#include <vector>

namespace edgellm {
namespace ocl {

// What the host turns into #defines and launch shapes. Kernel files hold no tuning constants.
struct Tuning {
    std::string row = "generic";  // which table row this is
    int gemv_wg = 64;      // work-items per decode-product work-group
    int gemv_lpr = 16;     // lanes per row team (the reduction span; the sub-group size on a Mali)
    int gemv_rows = 4;     // output rows per team
    int gemv_max_n = 4;    // products over up to this many tokens run as GEMV, above as GEMM
    int dot = -1;          // int8 dot product: -1 by device, 0 plain multiplies, 1 khr, 2 arm
    int attn_wg = 64;      // work-items per attention work-group
    int attn_chunk = 64;   // context positions per decode-attention work-group
    int norm_wg = 64;      // work-items per RMSNorm row
    int subgroups = -1;    // sub_group_reduce_add in reductions: -1 where the device has them
    int fp16 = -1;         // prefill through half tiles and CLBlast HGEMM: -1 where cl_khr_fp16 exists
    int gemm_tile_mb = 64; // cap of the dequantized weight tile for prefill (MiB)
    int hgemm_k = 512;     // HGEMM K-slice: half accumulation within a slice, slices summed in float
    int argmax_wg = 64;    // argmax: items per work-group (power of two) ...
    int argmax_groups = 64;// ... and at most this many work-groups
    int flush_every = 0;   // clFlush after this many launches (0: only where the host waits)
    // CLBlast Xgemm parameters injected for HGEMM (OverrideParameters), "NAME=value,..."; empty:
    // CLBlast's own database. Rows only (not an override key).
    std::string clblast_hgemm;
};

// The row for a device (tuning table in cl_tuning.cpp), with `forced_row` (if not empty) chosen by
// name instead and `overrides` applied. Throws EDGELLM_ERR_INVALID_ARGUMENT for an unknown row
// name or a malformed override.
Tuning tuning_for(const std::string &name, const std::string &vendor, const std::string &driver,
                  const std::string &forced_row = "", const std::string &overrides = "");

// Applies "key=value,key=value" to t (the one override parser). Throws EDGELLM_ERR_INVALID_ARGUMENT
// naming the key for an unknown key or an out-of-range value.
void apply_tuning(Tuning &t, const std::string &overrides);

// The table's row names, in match order.
std::vector<std::string> tuning_rows();

// Work-group size limits the kernels rely on.
constexpr int kAttnMaxChunk = 1024;  // positions per attention work-group (its __local scores)
constexpr int kHeadDimMax = 256;     // largest head_dim of the attention kernels
constexpr int kAttnPrefillTokens = 8;   // query tokens per attn_prefill work-group (K / V loaded once for them)
constexpr int kAttnPrefillChunk = 128;  // positions per attn_prefill work-group (its __local scores)

}  // namespace ocl
}  // namespace edgellm
