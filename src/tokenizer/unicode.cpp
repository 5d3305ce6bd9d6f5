// UTF-8 validation/decoding, the GPT-2 byte-level alphabet and NFC (ICU's Normalizer2, which is
// the Unicode reference algorithm; a hand-written table would have to track Unicode versions).
#include <algorithm>
#include "tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <array>

#include "core/error.h"
#include "core/utf8.h"

namespace edgellm::unicode {

bool valid_utf8(std::string_view s) { return utf8_valid(s); }

void check_utf8(std::string_view s) {
    size_t at = utf8_valid_prefix(s);
    if (at != s.size()) fail(EDGELLM_ERR_INVALID_UTF8, "invalid UTF-8 in input at byte %zu", at);
}

uint32_t next_cp(std::string_view s, size_t &i) {
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    uint32_t c = p[i];
    size_t len = utf8_len(static_cast<unsigned char>(c));
    if (len == 1) { i++; return c; }
    uint32_t cp = c & (0x7F >> len);
    for (size_t k = 1; k < len && i + k < s.size(); k++) cp = (cp << 6) | (p[i + k] & 0x3F);
    i = std::min(i + len, s.size());  // a truncated character ends at the end of the view
    return cp;
}

void append_utf8(std::string &out, uint32_t cp) { utf8_append(out, cp); }

bool is_whitespace(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
        case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
        case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

namespace {
// bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF map to themselves; the rest to U+0100 onwards in order.
struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    ByteMap() {
        uint32_t next = 256;
        for (int b = 0; b < 256; b++) {
            bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            to_cp[b] = keep ? static_cast<uint32_t>(b) : next++;
        }
    }
};
const ByteMap &byte_map() {
    static const ByteMap m;
    return m;
}
}  // namespace

uint32_t byte_to_cp(uint8_t b) { return byte_map().to_cp[b]; }

int cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return static_cast<int>(cp);
    if (cp >= 256 && cp < 256 + 68) {
        // The remapped bytes in increasing order: 0x00-0x20, 0x7F-0xA0, 0xAD.
        uint32_t k = cp - 256;
        if (k <= 0x20) return static_cast<int>(k);
        if (k <= 0x20 + 34) return static_cast<int>(0x7F + (k - 0x21));
        if (k == 67) return 0xAD;
    }
    return -1;
}

std::string nfc(std::string_view s) {
    // Code points below U+0300 are NFC-stable and never compose with each other.
    bool simple = true;
    for (unsigned char c : s) {
        if (c >= 0xCC) { simple = false; break; }
    }
    if (simple) return std::string(s);
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2 *norm = icu::Normalizer2::getNFCInstance(err);
    if (U_FAILURE(err)) fail(EDGELLM_ERR_INTERNAL, "ICU NFC normalizer unavailable: %s", u_errorName(err));
    std::string out;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(s.size()));
    norm->normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr, err);
    if (U_FAILURE(err)) fail(EDGELLM_ERR_INTERNAL, "ICU NFC normalization failed: %s", u_errorName(err));
    return out;
}

}  // namespace edgellm::unicode
