// Logging through user callbacks only: the library never writes to stderr by itself.
#pragma once

#include <string>

#include "edgellm/edgellm.h"

namespace edgellm {

struct Logger {
    edgellm_log_callback callback = nullptr;  // nullptr: the process-wide sink
    void *user_data = nullptr;
    int level = EDGELLM_LOG_INFO;

    void log(int level, const char *fmt, ...) const
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
};

// Process-wide sink (edgellm_set_log_callback).
void set_global_log(edgellm_log_callback cb, void *user_data, int max_level);
void log_global(int level, const std::string &message);

}  // namespace edgellm
