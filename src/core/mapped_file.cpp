// POSIX implementation of MappedFile (open + fstat + mmap PROT_READ, MAP_PRIVATE).
#include "core/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace edgellm {

MappedFile::MappedFile(const std::string &path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        fail(e == ENOENT || e == ENOTDIR || e == EACCES ? EDGELLM_ERR_FILE_NOT_FOUND : EDGELLM_ERR_IO,
             "%s: cannot open: %s", path.c_str(), std::strerror(e));
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail(EDGELLM_ERR_IO, "%s: cannot stat: %s", path.c_str(), std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(EDGELLM_ERR_IO, "%s: not a regular file", path.c_str());
    }
    size_ = (size_t)st.st_size;
    if (size_ > 0) {
        void *p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail(EDGELLM_ERR_IO, "%s: cannot map %zu bytes: %s", path.c_str(), size_, std::strerror(e));
        }
        data_ = static_cast<const uint8_t *>(p);
    }
    ::close(fd);  // the mapping keeps the file referenced
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t *>(data_), size_);
}

void MappedFile::release(uint64_t offset, uint64_t len) const {
    if (!data_ || !contains(offset, len)) return;
    const uint64_t page = (uint64_t)::sysconf(_SC_PAGESIZE);
    uint64_t begin = (offset + page - 1) / page * page;
    uint64_t end = (offset + len) / page * page;
    if (end > begin) ::madvise(const_cast<uint8_t *>(data_) + begin, end - begin, MADV_DONTNEED);
}

bool is_directory(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_regular_file(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace edgellm
