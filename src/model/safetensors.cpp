// safetensors header parsing and validation (format: github.com/huggingface/safetensors README).
#include "model/safetensors.h"

#include <cstring>
#include <simdjson.h>

#include "core/error.h"

namespace edgellm {

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit

int dtype_size(const std::string &d, bool &supported, SrcType &t) {
    supported = false;
    if (d == "F32") { supported = true; t = SrcType::F32; return 4; }
    if (d == "F16") { supported = true; t = SrcType::F16; return 2; }
    if (d == "BF16") { supported = true; t = SrcType::BF16; return 2; }
    if (d == "F64" || d == "I64" || d == "U64") return 8;
    if (d == "I32" || d == "U32") return 4;
    if (d == "I16" || d == "U16") return 2;
    if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
    return 0;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string &path) : file_(path) {
    const char *p = path.c_str();
    if (file_.size() < 8) fail(EDGELLM_ERR_INVALID_MODEL, "%s: truncated safetensors file (%zu bytes)", p, file_.size());
    uint64_t hlen;
    std::memcpy(&hlen, file_.data(), 8);
    if (hlen > kMaxHeader || hlen > file_.size() - 8)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: safetensors header length %llu exceeds the %zu-byte file (truncated?)", p,
             (unsigned long long)hlen, file_.size());
    const uint64_t data_start = 8 + hlen, data_size = file_.size() - data_start;

    simdjson::dom::parser parser;
    simdjson::padded_string json(reinterpret_cast<const char *>(file_.data() + 8), (size_t)hlen);
    simdjson::dom::object root;
    if (parser.parse(json).get(root) != simdjson::SUCCESS)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: safetensors header is not a JSON object", p);
    for (auto field : root) {
        std::string name(field.key);
        if (name == "__metadata__") continue;
        simdjson::dom::object t;
        std::string_view dtype;
        simdjson::dom::array shape, offs;
        if (field.value.get(t) || t["dtype"].get(dtype) || t["shape"].get(shape) || t["data_offsets"].get(offs))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' lacks dtype, shape or data_offsets", p, name.c_str());
        SafeTensorInfo info;
        info.dtype = std::string(dtype);
        int esz = dtype_size(info.dtype, info.supported, info.type);
        if (esz == 0) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has unknown dtype '%s'", p, name.c_str(), info.dtype.c_str());
        uint64_t n_elem = 1;
        for (auto d : shape) {
            uint64_t v;
            if (d.get(v) || v > (1ull << 40) || (v > 0 && n_elem > (1ull << 50) / v))
                fail(EDGELLM_ERR_INVALID_MODEL,
                     "%s: tensor '%s' has an invalid shape (largest tensor: 2^40 per dimension, 2^50 elements)", p,
                     name.c_str());
            n_elem *= v;
            info.shape.push_back((int64_t)v);
        }
        if (info.shape.size() > 4) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has more than 4 dimensions", p, name.c_str());
        uint64_t b = 0, e = 0;
        if (offs.size() != 2 || offs.at(0).get(b) || offs.at(1).get(e))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has invalid data_offsets", p, name.c_str());
        if (b > e || e > data_size)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' bytes [%llu, %llu) lie outside the %llu-byte data section (truncated?)",
                 p, name.c_str(), (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_size);
        if (e - b != n_elem * (uint64_t)esz)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has %llu bytes but its shape needs %llu", p, name.c_str(),
                 (unsigned long long)(e - b), (unsigned long long)(n_elem * (uint64_t)esz));
        info.offset = data_start + b;
        info.nbytes = e - b;
        if (!tensors_.emplace(name, std::move(info)).second)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: duplicate tensor '%s'", p, name.c_str());
    }
}

const SafeTensorInfo *SafetensorsFile::find(const std::string &name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace edgellm
