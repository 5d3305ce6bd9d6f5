// json_out.hpp -- JSON-lines output of the edgellm service: string escaping (with invalid UTF-8
// replaced by U+FFFD so every line is valid JSON), stats objects, and whole-line writes to stdout
// flushed one reply line at a time.
#pragma once

#include <edgellm/edgellm.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace json {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
inline size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((b(i + k) & 0xC0) != 0x80) return 0;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

inline void append_string(std::string &out, std::string_view s) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c == '\n') {
            out += "\\n", ++i;
        } else if (c == '\r') {
            out += "\\r", ++i;
        } else if (c == '\t') {
            out += "\\t", ++i;
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
            ++i;
        } else {
            size_t n = utf8_len(s, i);
            if (n == 0) {
                out += "\xEF\xBF\xBD"; // U+FFFD for an invalid byte
                ++i;
            } else {
                out.append(s.data() + i, n);
                i += n;
            }
        }
    }
    out += '"';
}

inline void append_number(std::string &out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    out += buf;
}

inline const char *stop_reason_name(int32_t reason) {
    switch (reason) {
    case EDGELLM_STOP_EOS: return "eos";
    case EDGELLM_STOP_MAX_TOKENS: return "max_tokens";
    case EDGELLM_STOP_STRING: return "stop_string";
    case EDGELLM_STOP_CANCELLED: return "cancelled";
    case EDGELLM_STOP_CONTEXT_FULL: return "context_full";
    case EDGELLM_STOP_ERROR: return "error";
    default: return "none";
    }
}

inline void append_stats(std::string &out, const edgellm_stats &s) {
    out += "{\"stop_reason\":\"";
    out += stop_reason_name(s.stop_reason);
    out += "\",\"n_prompt_tokens\":" + std::to_string(s.n_prompt_tokens);
    out += ",\"n_reused_tokens\":" + std::to_string(s.n_reused_tokens);
    out += ",\"n_generated_tokens\":" + std::to_string(s.n_generated_tokens);
    out += ",\"prefill_ms\":", append_number(out, s.prefill_ms);
    out += ",\"decode_ms\":", append_number(out, s.decode_ms);
    out += ",\"prefill_tokens_per_second\":", append_number(out, s.prefill_tokens_per_second);
    out += ",\"decode_tokens_per_second\":", append_number(out, s.decode_tokens_per_second);
    out += ",\"time_to_first_token_ms\":", append_number(out, s.time_to_first_token_ms);
    out += ",\"peak_memory_bytes\":" + std::to_string(s.peak_memory_bytes);
    out += '}';
}

inline void write_line(std::string &line) {
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
}

inline void emit_piece(const std::string &id_json, std::string_view piece) {
    std::string line = "{\"id\":" + id_json + ",\"piece\":";
    append_string(line, piece);
    line += '}';
    write_line(line);
}

inline void emit_done(const std::string &id_json, const edgellm_stats &stats) {
    std::string line = "{\"id\":" + id_json + ",\"done\":true,\"stop_reason\":\"";
    line += stop_reason_name(stats.stop_reason);
    line += "\",\"stats\":";
    append_stats(line, stats);
    line += '}';
    write_line(line);
}

inline void emit_error(const std::string &id_json, std::string_view code, std::string_view message,
                       const edgellm_stats *stats) {
    std::string line = "{\"id\":" + id_json + ",\"error\":{\"code\":";
    append_string(line, code);
    line += ",\"message\":";
    append_string(line, message);
    line += '}';
    if (stats) {
        line += ",\"stats\":";
        append_stats(line, *stats);
    }
    line += '}';
    write_line(line);
}

} // namespace json
