// Internal error type: every failure inside the engine throws edgellm::Error carrying a public
// status code; the C ABI layer (src/api/) catches it and turns it into a status + last-error text.
#pragma once

#include <stdexcept>
#include <string>

#include "edgellm/edgellm.h"

namespace edgellm {

class Error : public std::runtime_error {
public:
    Error(edgellm_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    edgellm_status status() const { return status_; }

private:
    edgellm_status status_;
};

// printf-style message builder; throws Error(status, message).
[[noreturn]] void fail(edgellm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// printf into std::string.
std::string strprintf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

}  // namespace edgellm
