// The table of environment variables the library reads (what each does is the user's contract:
// docs/environment.md repeats it).
#include "core/env.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace edgellm {

const std::vector<EnvVar> &env_table() {
    static const std::vector<EnvVar> t = {
        {"EDGELLM_CACHE_DIR", "cache folder for compiled OpenCL kernels (default $XDG_CACHE_HOME/edgellm, ~/.cache/edgellm)"},
        {"EDGELLM_NO_KERNEL_CACHE", "1: compile OpenCL kernels every time, no disk cache"},
        {"EDGELLM_KERNEL_DIR", "read kernels/*.cl from this folder (builds with EDGELLM_KERNELS_FROM_DISK only)"},
        {"EDGELLM_OPENCL_DEVICE", "OpenCL device by index (edgellm_device_count order) or name substring"},
        {"EDGELLM_OPENCL_ROW", "force an OpenCL tuning row by name (mali-g610, mali, adreno, nvidia, cpu, generic)"},
        {"EDGELLM_OPENCL_TUNE", "OpenCL tuning overrides key=value,... (docs/opencl-backend.md)"},
        {"EDGELLM_OPENCL_PROFILE", "1: time every OpenCL kernel (edgellm-bench --profile)"},
        {"EDGELLM_OPENCL_MAX_ALLOC", "test hook: pretend the device's largest allocation is this many bytes"},
        {"EDGELLM_HOST_SAMPLING", "1: greedy tokens chosen on the host, not on the device"},
        {"EDGELLM_CPU_ISA", "cap the fast CPU backend's kernels: scalar, neon, dotprod, i8mm, avx2, avx512vnni"},
        {"EDGELLM_CPU_AFFINITY", "CPU list for the fast CPU backend's threads, e.g. 4-7 (the RK3588's A76 cores)"},
    };
    return t;
}

std::string env(const char *name) {
    bool known = false;
    for (const EnvVar &v : env_table()) known = known || std::strcmp(v.name, name) == 0;
    if (!known) fail(EDGELLM_ERR_INTERNAL, "environment variable %s is not in the table (src/core/env.cpp)", name);
    const char *v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

bool env_flag(const char *name) {
    const std::string v = env(name);
    return !v.empty() && v != "0";
}

}  // namespace edgellm
