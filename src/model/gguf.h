// GGUF v2/v3 container parser: header, metadata (every value type, nested arrays), tensor infos
// and data section, all validated against the file size up front so that later reads cannot go
// out of bounds. Values stay in the mapping and are decoded on request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "model/convert.h"

namespace edgellm {

enum GgufValueType : uint32_t {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10,
    GGUF_INT64 = 11, GGUF_FLOAT64 = 12
};

struct GgufKV {
    std::string key;
    uint32_t type = 0;
    uint64_t pos = 0;        // file offset of the value (for arrays: of the first element)
    uint32_t elem_type = 0;  // arrays only
    uint64_t count = 0;      // arrays only
};

struct GgufTensorInfo {
    std::string name;
    uint32_t ggml_type = 0;
    std::vector<uint64_t> ne;  // ne[0] innermost (columns)
    uint64_t offset = 0;       // absolute file offset of the data
    uint64_t nbytes = 0;
    bool supported = false;    // ggml_type is one we decode (then `type` is valid)
    SrcType type = SrcType::F32;
    int64_t cols() const { return ne.empty() ? 1 : (int64_t)ne[0]; }
    int64_t rows() const;      // product of ne[1..]
};

class GgufFile {
public:
    // Throws FILE_NOT_FOUND / IO from the mapping and INVALID_MODEL (message names the file and
    // the problem) for anything malformed, truncated or out of bounds.
    explicit GgufFile(const std::string &path);

    const std::string &path() const { return file_.path(); }
    const MappedFile &file() const { return file_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }

    const GgufKV *find(const std::string &key) const;
    // Typed getters return false when the key is absent and throw INVALID_MODEL when its type does
    // not fit. Integers accept any integer type in range; floats accept float and integer types.
    bool get_int(const std::string &key, int64_t &out) const;
    bool get_float(const std::string &key, double &out) const;
    bool get_bool(const std::string &key, bool &out) const;
    bool get_string(const std::string &key, std::string &out) const;
    bool get_string_array(const std::string &key, std::vector<std::string> &out) const;
    bool get_float_array(const std::string &key, std::vector<float> &out) const;
    bool get_int_array(const std::string &key, std::vector<int32_t> &out) const;
    uint64_t array_length(const std::string &key) const;  // 0 when absent or not an array

    const std::vector<GgufTensorInfo> &tensors() const { return tensors_; }
    const GgufTensorInfo *find_tensor(const std::string &name) const;

private:
    double read_number(uint32_t type, uint64_t pos, const std::string &key) const;

    MappedFile file_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    std::vector<GgufKV> kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace edgellm
