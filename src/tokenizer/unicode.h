// UTF-8 helpers for the tokenizers: validation, code point decoding, the GPT-2 byte <-> unicode
// map used by byte-level BPE, Unicode White_Space, and NFC normalization (through ICU).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace edgellm::unicode {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool valid_utf8(std::string_view s);
// Throws Error(EDGELLM_ERR_INVALID_UTF8) naming the byte offset when `s` is not valid UTF-8.
void check_utf8(std::string_view s);

// Length in bytes of the UTF-8 sequence that starts with lead byte `c` (1 for invalid leads).
inline size_t utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
}
// Decodes the code point at s[i] (valid UTF-8 assumed) and advances i.
uint32_t next_cp(std::string_view s, size_t &i);
void append_utf8(std::string &out, uint32_t cp);

// Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s accept).
bool is_whitespace(uint32_t cp);

// GPT-2 byte-level alphabet: every byte maps to one printable code point.
uint32_t byte_to_cp(uint8_t b);
// Inverse map; returns -1 for code points outside the alphabet.
int cp_to_byte(uint32_t cp);

// Unicode Normalization Form C.
std::string nfc(std::string_view s);

}  // namespace edgellm::unicode
