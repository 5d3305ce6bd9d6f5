// Shared helpers of the OpenCL backend: error checking that turns cl_int codes into
// edgellm::Error (naming the failing call), device enumeration and description.
// Nothing here aborts: every failure is an Error with a public status.
#pragma once

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "edgellm/edgellm.h"

namespace edgellm {
namespace ocl {

// "CL_OUT_OF_RESOURCES" etc.; "CL error -N" for unknown codes.
const char *cl_error_name(cl_int err);

// Throws Error(EDGELLM_ERR_DEVICE_OUT_OF_MEMORY or EDGELLM_ERR_DEVICE) naming `what` and the code.
[[noreturn]] void throw_cl(cl_int err, const char *what);
inline void check(cl_int err, const char *what) {
    if (err != CL_SUCCESS) throw_cl(err, what);
}

struct DeviceRef {
    cl_platform_id platform = nullptr;
    cl_device_id device = nullptr;
};

// All devices over all platforms in global index order (platform order, then device order).
// Empty when there is no platform (CL_PLATFORM_NOT_FOUND_KHR from the ICD loader).
std::vector<DeviceRef> enumerate_devices();

std::string device_string(cl_device_id d, cl_device_info what);
std::string platform_string(cl_platform_id p, cl_platform_info what);
bool device_has_extension(cl_device_id d, const char *ext);
void describe_device(const DeviceRef &ref, uint32_t index, edgellm_device_info &info);

// Picks a device: index >= 0 selects that index; else EDGELLM_OPENCL_DEVICE (an index or a
// case-insensitive name substring); else the first GPU, else the first device.
// Throws EDGELLM_ERR_NO_DEVICE.
size_t select_device(const std::vector<DeviceRef> &devs, int index);

}  // namespace ocl
}  // namespace edgellm
