// A 64-byte aligned, uninitialised, move-only byte buffer: weights are filled in place by the
// loaders, so zero-initialising them (std::vector) would only cost time and page faults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace edgellm {

class AlignedBuffer {
public:
    static constexpr size_t kAlign = 128;  // Mali CL_MEM_USE_HOST_PTR wants 64..128 B alignment

    AlignedBuffer() = default;
    explicit AlignedBuffer(size_t bytes) { resize(bytes); }
    ~AlignedBuffer() { std::free(data_); }
    AlignedBuffer(const AlignedBuffer &) = delete;
    AlignedBuffer &operator=(const AlignedBuffer &) = delete;
    AlignedBuffer(AlignedBuffer &&o) noexcept : data_(o.data_), size_(o.size_) {
        o.data_ = nullptr;
        o.size_ = 0;
    }
    AlignedBuffer &operator=(AlignedBuffer &&o) noexcept {
        if (this != &o) {
            std::free(data_);
            data_ = o.data_;
            size_ = o.size_;
            o.data_ = nullptr;
            o.size_ = 0;
        }
        return *this;
    }

    // Discards old contents. Throws std::bad_alloc on failure.
    void resize(size_t bytes) {
        std::free(data_);
        data_ = nullptr;
        size_ = 0;
        if (bytes == 0) return;
        size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
        data_ = static_cast<uint8_t *>(std::aligned_alloc(kAlign, rounded));
        if (!data_) throw std::bad_alloc();
        size_ = bytes;
    }
    void clear() { resize(0); }

    uint8_t *data() { return data_; }
    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    template <typename T> T *as() { return reinterpret_cast<T *>(data_); }
    template <typename T> const T *as() const { return reinterpret_cast<const T *>(data_); }

private:
    uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace edgellm
