// Factory and device enumeration of the OpenCL backend (implementation in this directory), plus
// diagnostics used by edgellm-bench. Only compiled when EDGELLM_WITH_OPENCL is defined.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/log.h"
#include "edgellm/edgellm.h"

namespace edgellm {

struct OpenClBackendOptions {
    int device_index = -1;  // -1: EDGELLM_OPENCL_DEVICE (index or name substring), else first GPU,
                            // else first device
    Logger log;
    bool profile = false;   // CL_QUEUE_PROFILING_ENABLE + per-kernel times (also env
                            // EDGELLM_OPENCL_PROFILE=1)
    std::string row;        // force this tuning row by name ("" : EDGELLM_OPENCL_ROW, else by device)
    std::string tune;       // tuning overrides "key=value,..." applied after EDGELLM_OPENCL_TUNE
};

// Throws Error(EDGELLM_ERR_NO_DEVICE / EDGELLM_ERR_DEVICE / EDGELLM_ERR_KERNEL_BUILD, ...).
std::unique_ptr<Backend> make_opencl_backend(const OpenClBackendOptions &opt);

// All devices over all platforms, in the global index order used above. Empty (no throw) when
// there is no OpenCL platform.
std::vector<edgellm_device_info> list_opencl_devices();

// ---- diagnostics (bench); each throws EDGELLM_ERR_INVALID_ARGUMENT for a non-OpenCL backend ----
struct OpenClKernelTime {
    std::string name;
    uint64_t count = 0;
    double total_ms = 0;
};
// Per-kernel device times since the last call (profiling on), sorted by total time.
std::vector<OpenClKernelTime> opencl_take_profile(Backend &b);
// Kernels enqueued so far (CLBlast's own launches count as one per GEMM call).
uint64_t opencl_launch_count(Backend &b);
// Device memory bandwidth (GB/s) from a float4 copy kernel: (read + write bytes) / time.
double opencl_measure_bandwidth_gbs(Backend &b);
// fp32 peak (GFLOPS) from an FMA-chain kernel.
double opencl_measure_fp32_gflops(Backend &b);
// The tuning row in use, and the decode path's features ("int8 dot: khr, sub-groups, fp16 prefill").
std::string opencl_describe(Backend &b);

}  // namespace edgellm
