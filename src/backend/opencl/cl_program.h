// Kernel programs of the OpenCL backend: source lookup (embedded, or kernels/ on disk with
// EDGELLM_KERNELS_FROM_DISK) and building with a binary cache in
// memory and on disk keyed by a hash of source, options, device name and driver version.
#pragma once

#include <string>

#include "backend/opencl/cl_common.h"
#include "core/log.h"

namespace edgellm {
namespace ocl {

// Source text of kernels/<file>, embedded at build time or read from disk (dev switch).
// Throws EDGELLM_ERR_KERNEL_BUILD when missing.
std::string kernel_source(const char *file);

// Cache directory: $EDGELLM_CACHE_DIR, else $XDG_CACHE_HOME/edgellm, else ~/.cache/edgellm;
// "" when none can be determined (then only the memory cache is used).
std::string cache_dir();

// 128-bit FNV-1a based hash as 32 hex digits (not cryptographic; a cache key).
std::string hash_hex(const std::string &data);

// Builds `source` with `options` for one device, through the memory and disk caches. Any cache
// problem falls back to compiling from source. Throws EDGELLM_ERR_KERNEL_BUILD with the log.
cl_program build_program(cl_context ctx, cl_device_id dev, const std::string &source,
                         const std::string &options, const std::string &device_key,
                         const Logger &log, bool *from_cache = nullptr);

}  // namespace ocl
}  // namespace edgellm
