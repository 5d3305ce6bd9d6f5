// Log sinks: a per-model callback, else the process-wide one set by edgellm_set_log_callback.
#include "core/log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <vector>

namespace edgellm {

namespace {
std::mutex g_mu;
edgellm_log_callback g_cb = nullptr;
void *g_ud = nullptr;
int g_level = EDGELLM_LOG_INFO;
}  // namespace

void set_global_log(edgellm_log_callback cb, void *user_data, int max_level) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_cb = cb;
    g_ud = user_data;
    g_level = max_level;
}

void log_global(int level, const std::string &message) {
    edgellm_log_callback cb;
    void *ud;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (!g_cb || level > g_level) return;
        cb = g_cb;
        ud = g_ud;
    }
    cb(level, message.c_str(), ud);
}

void Logger::log(int lvl, const char *fmt, ...) const {
    if (callback && lvl > level) return;
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = std::vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    std::string msg;
    if (n < 0) {
        msg = fmt;
    } else if ((size_t)n < sizeof small) {
        msg.assign(small, (size_t)n);
    } else {
        std::vector<char> big((size_t)n + 1);
        std::vsnprintf(big.data(), big.size(), fmt, ap);
        msg.assign(big.data(), (size_t)n);
    }
    va_end(ap);
    if (callback) {
        try {
            callback(lvl, msg.c_str(), user_data);
        } catch (...) {
        }
    } else {
        log_global(lvl, msg);
    }
}

}  // namespace edgellm
