// UTF-8 helpers for the C ABI boundary and streaming: validation, the length of the prefix made of
// whole characters, and replacement of invalid sequences by U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgellm {

// True if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool utf8_valid(std::string_view s);
// Length of the longest well-formed prefix of s (== s.size() when s is valid).
size_t utf8_valid_prefix(std::string_view s);
// Appends the UTF-8 encoding of code point cp (cp <= U+10FFFF).
void utf8_append(std::string &out, uint32_t cp);
// Length of the longest prefix that does not end inside an unfinished (but so far valid)
// multi-byte sequence. Invalid bytes count as complete (they will be replaced).
size_t utf8_complete_prefix(std::string_view s);
// s with every invalid or unfinished sequence replaced by U+FFFD (as Python's errors="replace").
std::string sanitize_utf8(std::string_view s);

}  // namespace edgellm
