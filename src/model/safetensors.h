// safetensors file parser: an 8-byte little-endian header length, a JSON header (parsed with
// simdjson) naming each tensor's dtype, shape and byte range, then the raw data (mapped).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "model/convert.h"

namespace edgellm {

struct SafeTensorInfo {
    std::string dtype;          // "F32", "F16", "BF16", ... as written
    bool supported = false;     // F32 / F16 / BF16 (then `type` is valid)
    SrcType type = SrcType::F32;
    std::vector<int64_t> shape;
    uint64_t offset = 0;        // absolute file offset
    uint64_t nbytes = 0;
};

class SafetensorsFile {
public:
    // Throws FILE_NOT_FOUND / IO from the mapping, INVALID_MODEL (naming the file) for a malformed
    // header or any tensor whose byte range does not match its shape or lies outside the file.
    explicit SafetensorsFile(const std::string &path);

    const std::string &path() const { return file_.path(); }
    const MappedFile &file() const { return file_; }
    const SafeTensorInfo *find(const std::string &name) const;
    const std::unordered_map<std::string, SafeTensorInfo> &tensors() const { return tensors_; }

private:
    MappedFile file_;
    std::unordered_map<std::string, SafeTensorInfo> tensors_;
};

}  // namespace edgellm
