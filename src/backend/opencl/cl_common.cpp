// Error names, device enumeration, device description and selection for the OpenCL backend.
#include "backend/opencl/cl_common.h"
#include "core/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace edgellm {
namespace ocl {

const char *cl_error_name(cl_int err) {
    switch (err) {
#define E(x) case x: return #x;
        E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_BUILD_PROGRAM_FAILURE)
        E(CL_MAP_FAILURE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return nullptr;
    }
}

void throw_cl(cl_int err, const char *what) {
    const char *name = cl_error_name(err);
    std::string code = name ? strprintf("%s (%d)", name, (int)err) : strprintf("CL error %d", (int)err);
    edgellm_status st = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                         err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE)
                            ? EDGELLM_ERR_DEVICE_OUT_OF_MEMORY
                            : EDGELLM_ERR_DEVICE;
    fail(st, "OpenCL: %s failed: %s", what, code.c_str());
}

std::vector<DeviceRef> enumerate_devices() {
    std::vector<DeviceRef> out;
    cl_uint np = 0;
    if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) return out;
    std::vector<cl_platform_id> plats(np);
    if (clGetPlatformIDs(np, plats.data(), nullptr) != CL_SUCCESS) return out;
    for (cl_platform_id p : plats) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
        std::vector<cl_device_id> devs(nd);
        if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, devs.data(), nullptr) != CL_SUCCESS) continue;
        for (cl_device_id d : devs) out.push_back({p, d});
    }
    return out;
}

std::string device_string(cl_device_id d, cl_device_info what) {
    size_t n = 0;
    if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
    std::string s(n, '\0');
    if (clGetDeviceInfo(d, what, n, &s[0], nullptr) != CL_SUCCESS) return "";
    while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string platform_string(cl_platform_id p, cl_platform_info what) {
    size_t n = 0;
    if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
    std::string s(n, '\0');
    if (clGetPlatformInfo(p, what, n, &s[0], nullptr) != CL_SUCCESS) return "";
    while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
    return s;
}

bool device_has_extension(cl_device_id d, const char *ext) {
    std::string all = " " + device_string(d, CL_DEVICE_EXTENSIONS) + " ";
    return all.find(std::string(" ") + ext + " ") != std::string::npos;
}

template <typename T> static T dev_info(cl_device_id d, cl_device_info what, T def) {
    T v = def;
    if (clGetDeviceInfo(d, what, sizeof v, &v, nullptr) != CL_SUCCESS) return def;
    return v;
}

static void copy_str(char *dst, size_t cap, const std::string &s) {
    size_t n = std::min(cap - 1, s.size());
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}

void describe_device(const DeviceRef &ref, uint32_t index, edgellm_device_info &info) {
    edgellm_device_info d;
    std::memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.index = index;
    copy_str(d.name, sizeof d.name, device_string(ref.device, CL_DEVICE_NAME));
    copy_str(d.vendor, sizeof d.vendor, device_string(ref.device, CL_DEVICE_VENDOR));
    copy_str(d.driver_version, sizeof d.driver_version, device_string(ref.device, CL_DRIVER_VERSION));
    copy_str(d.platform_name, sizeof d.platform_name, platform_string(ref.platform, CL_PLATFORM_NAME));
    copy_str(d.opencl_version, sizeof d.opencl_version, device_string(ref.device, CL_DEVICE_VERSION));
    d.global_mem_bytes = dev_info<cl_ulong>(ref.device, CL_DEVICE_GLOBAL_MEM_SIZE, 0);
    d.max_alloc_bytes = dev_info<cl_ulong>(ref.device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, 0);
    d.compute_units = dev_info<cl_uint>(ref.device, CL_DEVICE_MAX_COMPUTE_UNITS, 0);
    d.max_clock_mhz = dev_info<cl_uint>(ref.device, CL_DEVICE_MAX_CLOCK_FREQUENCY, 0);
    cl_device_type type = dev_info<cl_device_type>(ref.device, CL_DEVICE_TYPE, 0);
    d.is_gpu = (type & CL_DEVICE_TYPE_GPU) ? 1 : 0;
    d.has_fp16 = device_has_extension(ref.device, "cl_khr_fp16") ? 1 : 0;
    d.unified_memory = dev_info<cl_bool>(ref.device, CL_DEVICE_HOST_UNIFIED_MEMORY, CL_FALSE) ? 1 : 0;
    d.has_subgroups = device_has_extension(ref.device, "cl_khr_subgroups") ? 1 : 0;
    // Copy only what the caller's struct holds (it may be an older, smaller layout).
    uint32_t cap = info.struct_size ? std::min<uint32_t>(info.struct_size, sizeof d) : (uint32_t)sizeof d;
    uint32_t keep = info.struct_size ? info.struct_size : (uint32_t)sizeof d;
    std::memcpy(&info, &d, cap);
    info.struct_size = keep;
}

static std::string lower(std::string s) {
    for (char &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

size_t select_device(const std::vector<DeviceRef> &devs, int index) {
    if (devs.empty()) fail(EDGELLM_ERR_NO_DEVICE, "OpenCL: no platform or device found (is an ICD installed?)");
    if (index >= 0) {
        if ((size_t)index >= devs.size())
            fail(EDGELLM_ERR_NO_DEVICE, "OpenCL: device index %d out of range (%zu devices)", index, devs.size());
        return (size_t)index;
    }
    const std::string e = env("EDGELLM_OPENCL_DEVICE");
    if (!e.empty()) {
        const char *ev = e.c_str();
        bool numeric = std::all_of(e.begin(), e.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (numeric) {
            unsigned long i = std::strtoul(ev, nullptr, 10);
            if (i >= devs.size())
                fail(EDGELLM_ERR_NO_DEVICE, "OpenCL: EDGELLM_OPENCL_DEVICE=%s out of range (%zu devices)", ev, devs.size());
            return (size_t)i;
        }
        std::string needle = lower(e);
        for (size_t i = 0; i < devs.size(); ++i) {
            std::string hay = lower(device_string(devs[i].device, CL_DEVICE_NAME) + " " +
                                    platform_string(devs[i].platform, CL_PLATFORM_NAME));
            if (hay.find(needle) != std::string::npos) return i;
        }
        fail(EDGELLM_ERR_NO_DEVICE, "OpenCL: no device matches EDGELLM_OPENCL_DEVICE=%s", ev);
    }
    for (size_t i = 0; i < devs.size(); ++i) {
        cl_device_type t = dev_info<cl_device_type>(devs[i].device, CL_DEVICE_TYPE, 0);
        if (t & CL_DEVICE_TYPE_GPU) return i;
    }
    return 0;
}

}  // namespace ocl
}  // namespace edgellm
