// GGUF parsing with a bounds-checked cursor: every count is checked against the bytes left before
// anything is sized from it, so a corrupted file fails with INVALID_MODEL instead of reading out of
// bounds or allocating absurd amounts.
#include "model/gguf.h"

#include <cstring>

#include "core/error.h"

namespace edgellm {

namespace {

constexpr int kMaxArrayDepth = 4;

struct Cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const std::string &path;

    uint64_t left() const { return size - pos; }
    void need(uint64_t n, const char *what) const {
        if (n > left())
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: truncated GGUF: %s needs %llu bytes at offset %llu, file has %llu",
                 path.c_str(), what, (unsigned long long)n, (unsigned long long)pos, (unsigned long long)size);
    }
    template <typename T> T read(const char *what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, base + pos, sizeof(T));
        pos += sizeof(T);
        return v;
    }
    std::string read_string(const char *what) {
        uint64_t n = read<uint64_t>(what);
        need(n, what);
        std::string s(reinterpret_cast<const char *>(base + pos), (size_t)n);
        pos += n;
        return s;
    }
    void skip(uint64_t n, const char *what) {
        need(n, what);
        pos += n;
    }
};

// Byte size of a scalar value type; 0 for string / array; -1 unknown.
int scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    case GGUF_STRING: case GGUF_ARRAY: return 0;
    default: return -1;
    }
}

// Skips (validating) one value of type t at the cursor.
void skip_value(Cursor &c, uint32_t t, const std::string &key, int depth) {
    int sz = scalar_size(t);
    if (sz < 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' has unknown value type %u", c.path.c_str(), key.c_str(), t);
    if (sz > 0) {
        c.skip((uint64_t)sz, "metadata value");
        return;
    }
    if (t == GGUF_STRING) {
        uint64_t n = c.read<uint64_t>("string length");
        c.skip(n, "string");
        return;
    }
    if (depth >= kMaxArrayDepth)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' nests arrays too deeply", c.path.c_str(), key.c_str());
    uint32_t et = c.read<uint32_t>("array type");
    uint64_t n = c.read<uint64_t>("array length");
    int esz = scalar_size(et);
    if (esz < 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata array '%s' has unknown element type %u", c.path.c_str(), key.c_str(), et);
    if (esz > 0) {
        if (n > c.left() / (uint64_t)esz)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata array '%s' of %llu elements exceeds the file",
                 c.path.c_str(), key.c_str(), (unsigned long long)n);
        c.pos += n * (uint64_t)esz;
        return;
    }
    // strings / arrays take at least 8 bytes each: bound the loop by the bytes left
    if (n > c.left() / 8)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata array '%s' of %llu elements exceeds the file",
             c.path.c_str(), key.c_str(), (unsigned long long)n);
    for (uint64_t i = 0; i < n; ++i) skip_value(c, et, key, depth + 1);
}

struct GgmlTypeInfo {
    const char *name;
    int block, bytes;   // 0: unknown layout
    bool supported;
    SrcType src;
};

GgmlTypeInfo ggml_type_info(uint32_t t) {
    switch (t) {
    case 0: return {"F32", 1, 4, true, SrcType::F32};
    case 1: return {"F16", 1, 2, true, SrcType::F16};
    case 2: return {"Q4_0", 32, 18, true, SrcType::Q4_0};
    case 3: return {"Q4_1", 32, 20, true, SrcType::Q4_1};
    case 6: return {"Q5_0", 32, 22, false, SrcType::F32};
    case 7: return {"Q5_1", 32, 24, false, SrcType::F32};
    case 8: return {"Q8_0", 32, 34, true, SrcType::Q8_0};
    case 9: return {"Q8_1", 32, 36, false, SrcType::F32};
    case 10: return {"Q2_K", 256, 84, false, SrcType::F32};
    case 11: return {"Q3_K", 256, 110, false, SrcType::F32};
    case 12: return {"Q4_K", 256, 144, true, SrcType::Q4_K};
    case 13: return {"Q5_K", 256, 176, true, SrcType::Q5_K};
    case 14: return {"Q6_K", 256, 210, true, SrcType::Q6_K};
    case 15: return {"Q8_K", 256, 292, false, SrcType::F32};
    case 24: return {"I8", 1, 1, false, SrcType::F32};
    case 25: return {"I16", 1, 2, false, SrcType::F32};
    case 26: return {"I32", 1, 4, false, SrcType::F32};
    case 27: return {"I64", 1, 8, false, SrcType::F32};
    case 28: return {"F64", 1, 8, false, SrcType::F32};
    case 30: return {"BF16", 1, 2, true, SrcType::BF16};
    default: return {nullptr, 0, 0, false, SrcType::F32};
    }
}

}  // namespace

int64_t GgufTensorInfo::rows() const {
    int64_t r = 1;
    for (size_t i = 1; i < ne.size(); ++i) r *= (int64_t)ne[i];
    return r;
}

GgufFile::GgufFile(const std::string &path) : file_(path) {
    const std::string &p = file_.path();
    Cursor c{file_.data(), file_.size(), 0, p};
    if (file_.size() < 4 || std::memcmp(file_.data(), "GGUF", 4) != 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: not a GGUF file (bad magic)", p.c_str());
    c.pos = 4;
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: unsupported GGUF version %u (need 2 or 3)", p.c_str(), version_);
    uint64_t n_tensors = c.read<uint64_t>("tensor count");
    uint64_t n_kv = c.read<uint64_t>("metadata count");
    // A key/value takes at least 8 + 4 + 1 bytes, a tensor info at least 8 + 4 + 8 + 4 + 8.
    if (n_kv > c.left() / 13)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata count %llu is impossible for a %zu-byte file", p.c_str(),
             (unsigned long long)n_kv, file_.size());
    if (n_tensors > c.left() / 32)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor count %llu is impossible for a %zu-byte file", p.c_str(),
             (unsigned long long)n_tensors, file_.size());

    kvs_.reserve((size_t)n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        GgufKV kv;
        kv.key = c.read_string("metadata key");
        kv.type = c.read<uint32_t>("metadata type");
        if (kv.type == GGUF_ARRAY) {
            uint64_t start = c.pos;
            kv.elem_type = c.read<uint32_t>("array type");
            kv.count = c.read<uint64_t>("array length");
            kv.pos = c.pos;
            c.pos = start;
        } else {
            kv.pos = c.pos;
        }
        skip_value(c, kv.type, kv.key, 0);
        if (kv_index_.count(kv.key))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: duplicate metadata key '%s'", p.c_str(), kv.key.c_str());
        kv_index_[kv.key] = kvs_.size();
        kvs_.push_back(std::move(kv));
    }

    if (const GgufKV *a = find("general.alignment")) {
        if (a->type != GGUF_UINT32)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: general.alignment must be a uint32", p.c_str());
        uint32_t v;
        std::memcpy(&v, file_.data() + a->pos, 4);
        if (v == 0 || (v & (v - 1)) != 0)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: general.alignment %u is not a power of two", p.c_str(), v);
        alignment_ = v;
    }

    tensors_.reserve((size_t)n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        t.name = c.read_string("tensor name");
        uint32_t nd = c.read<uint32_t>("tensor dimension count");
        if (nd == 0 || nd > 4)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has %u dimensions (1..4 allowed)", p.c_str(), t.name.c_str(), nd);
        uint64_t n_elem = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            uint64_t v = c.read<uint64_t>("tensor dimension");
            if (v == 0 || v > (1ull << 40) || n_elem > (1ull << 50) / v)
                fail(EDGELLM_ERR_INVALID_MODEL,
                     "%s: tensor '%s' has an invalid dimension %llu (largest tensor: 2^40 per dimension, 2^50 elements)",
                     p.c_str(), t.name.c_str(), (unsigned long long)v);
            n_elem *= v;
            t.ne.push_back(v);
        }
        t.ggml_type = c.read<uint32_t>("tensor type");
        t.offset = c.read<uint64_t>("tensor offset");
        GgmlTypeInfo ti = ggml_type_info(t.ggml_type);
        if (ti.block > 0) {
            if (t.ne[0] % (uint64_t)ti.block != 0)
                fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' of type %s has %llu columns, not a multiple of %d",
                     p.c_str(), t.name.c_str(), ti.name, (unsigned long long)t.ne[0], ti.block);
            t.nbytes = n_elem / (uint64_t)ti.block * (uint64_t)ti.bytes;
        }
        t.supported = ti.supported;
        t.type = ti.src;
        if (tensor_index_.count(t.name))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: duplicate tensor '%s'", p.c_str(), t.name.c_str());
        tensor_index_[t.name] = tensors_.size();
        tensors_.push_back(std::move(t));
    }

    uint64_t data_start = (c.pos + alignment_ - 1) / alignment_ * alignment_;
    if (data_start > file_.size() && n_tensors > 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: truncated GGUF: data section starts at %llu past the end (%zu bytes)",
             p.c_str(), (unsigned long long)data_start, file_.size());
    for (GgufTensorInfo &t : tensors_) {
        if (t.offset % alignment_ != 0)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' offset %llu is not aligned to %llu", p.c_str(),
                 t.name.c_str(), (unsigned long long)t.offset, (unsigned long long)alignment_);
        if (t.offset > file_.size() || data_start > file_.size() - t.offset ||
            !file_.contains(data_start + t.offset, t.nbytes))
            fail(EDGELLM_ERR_INVALID_MODEL,
                 "%s: tensor '%s' (%llu bytes at data offset %llu) lies outside the %zu-byte file (truncated?)",
                 p.c_str(), t.name.c_str(), (unsigned long long)t.nbytes, (unsigned long long)t.offset, file_.size());
        t.offset += data_start;
    }
}

const GgufKV *GgufFile::find(const std::string &key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const GgufTensorInfo *GgufFile::find_tensor(const std::string &name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

double GgufFile::read_number(uint32_t type, uint64_t pos, const std::string &key) const {
    const uint8_t *b = file_.data() + pos;
    auto rd = [b](auto v) {
        std::memcpy(&v, b, sizeof(v));
        return v;
    };
    switch (type) {
    case GGUF_UINT8: return rd(uint8_t());
    case GGUF_INT8: return rd(int8_t());
    case GGUF_UINT16: return rd(uint16_t());
    case GGUF_INT16: return rd(int16_t());
    case GGUF_UINT32: return rd(uint32_t());
    case GGUF_INT32: return rd(int32_t());
    case GGUF_UINT64: return (double)rd(uint64_t());
    case GGUF_INT64: return (double)rd(int64_t());
    case GGUF_FLOAT32: return rd(float());
    case GGUF_FLOAT64: return rd(double());
    case GGUF_BOOL: return rd(uint8_t()) ? 1.0 : 0.0;
    default:
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' is not a number", path().c_str(), key.c_str());
    }
}

bool GgufFile::get_int(const std::string &key, int64_t &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64 || kv->type == GGUF_BOOL || scalar_size(kv->type) <= 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be an integer", path().c_str(), key.c_str());
    if (kv->type == GGUF_UINT64) {
        uint64_t v;
        std::memcpy(&v, file_.data() + kv->pos, 8);
        if (v > (uint64_t)INT64_MAX)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' is out of range", path().c_str(), key.c_str());
        out = (int64_t)v;
    } else if (kv->type == GGUF_INT64) {
        std::memcpy(&out, file_.data() + kv->pos, 8);
    } else {
        out = (int64_t)read_number(kv->type, kv->pos, key);
    }
    return true;
}

bool GgufFile::get_float(const std::string &key, double &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    if (kv->type == GGUF_BOOL || scalar_size(kv->type) <= 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be a number", path().c_str(), key.c_str());
    out = read_number(kv->type, kv->pos, key);
    return true;
}

bool GgufFile::get_bool(const std::string &key, bool &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    if (kv->type != GGUF_BOOL)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be a bool", path().c_str(), key.c_str());
    out = file_.data()[kv->pos] != 0;
    return true;
}

bool GgufFile::get_string(const std::string &key, std::string &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    if (kv->type != GGUF_STRING)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be a string", path().c_str(), key.c_str());
    Cursor c{file_.data(), file_.size(), kv->pos, path()};
    out = c.read_string("string");
    return true;
}

uint64_t GgufFile::array_length(const std::string &key) const {
    const GgufKV *kv = find(key);
    return kv && kv->type == GGUF_ARRAY ? kv->count : 0;
}

bool GgufFile::get_string_array(const std::string &key, std::vector<std::string> &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    if (kv->type != GGUF_ARRAY || kv->elem_type != GGUF_STRING)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be an array of strings", path().c_str(), key.c_str());
    Cursor c{file_.data(), file_.size(), kv->pos, path()};
    out.clear();
    out.reserve((size_t)kv->count);  // validated against the file size by the constructor
    for (uint64_t i = 0; i < kv->count; ++i) out.push_back(c.read_string("string"));
    return true;
}

bool GgufFile::get_float_array(const std::string &key, std::vector<float> &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    int sz = kv->type == GGUF_ARRAY ? scalar_size(kv->elem_type) : 0;
    if (sz <= 0 || kv->elem_type == GGUF_BOOL)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be an array of numbers", path().c_str(), key.c_str());
    out.resize((size_t)kv->count);
    for (uint64_t i = 0; i < kv->count; ++i) out[i] = (float)read_number(kv->elem_type, kv->pos + i * (uint64_t)sz, key);
    return true;
}

bool GgufFile::get_int_array(const std::string &key, std::vector<int32_t> &out) const {
    const GgufKV *kv = find(key);
    if (!kv) return false;
    int sz = kv->type == GGUF_ARRAY ? scalar_size(kv->elem_type) : 0;
    if (sz <= 0 || kv->elem_type == GGUF_FLOAT32 || kv->elem_type == GGUF_FLOAT64 || kv->elem_type == GGUF_BOOL)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata key '%s' must be an array of integers", path().c_str(), key.c_str());
    out.resize((size_t)kv->count);
    for (uint64_t i = 0; i < kv->count; ++i) {
        double v = read_number(kv->elem_type, kv->pos + i * (uint64_t)sz, key);
        if (v < -2147483648.0 || v > 2147483647.0)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata array '%s' holds a value out of int32 range", path().c_str(), key.c_str());
        out[i] = (int32_t)v;
    }
    return true;
}

}  // namespace edgellm
