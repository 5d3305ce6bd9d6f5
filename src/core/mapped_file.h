// A read-only memory-mapped file. Loaders read model files through it so that only the pages a
// tensor needs are resident while it converts, and release() hands them back afterwards, keeping
// peak memory near the size of the converted model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgellm {

class MappedFile {
public:
    // Throws Error(FILE_NOT_FOUND) when the path cannot be opened, Error(IO) when it is not a
    // regular file or cannot be mapped. An empty file maps to size() == 0, data() == nullptr.
    explicit MappedFile(const std::string &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    const std::string &path() const { return path_; }

    // True when [offset, offset + len) lies inside the file (overflow-safe).
    bool contains(uint64_t offset, uint64_t len) const {
        return offset <= size_ && len <= size_ - offset;
    }
    // Drops the resident pages fully inside [offset, offset + len) (madvise DONTNEED); later reads
    // fault them in again from the file. A hint: failures are ignored.
    void release(uint64_t offset, uint64_t len) const;

private:
    std::string path_;
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

// True when path names an existing directory.
bool is_directory(const std::string &path);
// True when path names an existing regular file (or a link to one).
bool is_regular_file(const std::string &path);

}  // namespace edgellm
