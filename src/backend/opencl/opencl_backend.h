// Factory and device enumeration of the OpenCL backend (implementation in this directory).
// Only compiled when EDGELLM_WITH_OPENCL is defined.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/log.h"
#include "edgellm/edgellm.h"

namespace edgellm {

struct OpenClBackendOptions {
    int device_index = -1;  // -1: EDGELLM_OPENCL_DEVICE (index or name substring), else first GPU,
                            // else first device
    Logger log;
};

// Throws Error(EDGELLM_ERR_NO_DEVICE / EDGELLM_ERR_DEVICE / EDGELLM_ERR_KERNEL_BUILD, ...).
std::unique_ptr<Backend> make_opencl_backend(const OpenClBackendOptions &opt);

// All devices over all platforms, in the global index order used above. Empty (no throw) when
// there is no OpenCL platform.
std::vector<edgellm_device_info> list_opencl_devices();

}  // namespace edgellm
