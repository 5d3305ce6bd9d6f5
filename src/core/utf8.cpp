// UTF-8 decoding by the table of well-formed byte sequences (Unicode 15, table 3-7).
#include "core/utf8.h"

namespace edgellm {

namespace {
// Length of the well-formed sequence at s[i], 0 if invalid; sets *truncated if it is a valid
// beginning cut off by the end of s.
size_t seq_len(std::string_view s, size_t i, bool *truncated) {
    *truncated = false;
    const unsigned char c = (unsigned char)s[i];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    for (size_t k = 1; k < n; ++k) {
        if (i + k >= s.size()) {
            *truncated = true;
            return 0;
        }
        const unsigned char b = (unsigned char)s[i + k];
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) return 0;
    }
    return n;
}
}  // namespace

size_t utf8_valid_prefix(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        bool tr;
        size_t n = seq_len(s, i, &tr);
        if (n == 0) return i;
        i += n;
    }
    return i;
}

bool utf8_valid(std::string_view s) { return utf8_valid_prefix(s) == s.size(); }

void utf8_append(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

size_t utf8_complete_prefix(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        bool tr;
        size_t n = seq_len(s, i, &tr);
        if (tr) return i;
        i += n ? n : 1;
    }
    return s.size();
}

std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        bool tr;
        size_t n = seq_len(s, i, &tr);
        if (n) {
            out.append(s.data() + i, n);
            i += n;
            continue;
        }
        out += "\xEF\xBF\xBD";
        // Skip the maximal subpart of an ill-formed sequence (WHATWG / Python behaviour): the lead
        // byte plus any continuation bytes that were valid so far.
        size_t j = i + 1;
        const unsigned char c = (unsigned char)s[i];
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
        while (j < s.size() && j < i + want) {
            std::string_view probe = s.substr(i, j - i + 1);
            bool t2;
            size_t m = seq_len(probe, 0, &t2);
            if (m == 0 && !t2) break;
            ++j;
        }
        i = j;
    }
    return out;
}

}  // namespace edgellm
