// Split regexes of Hugging Face pre-tokenizers, run with PCRE2 (JIT). Patterns are written for
// Oniguruma (what `tokenizers` uses); compile() rewrites the one construct whose meaning differs.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgellm {

class Regex {
public:
    // Throws Error(EDGELLM_ERR_UNSUPPORTED_MODEL) when PCRE2 rejects the pattern.
    explicit Regex(const std::string &pattern);
    ~Regex();
    Regex(const Regex &) = delete;
    Regex &operator=(const Regex &) = delete;

    // Appends to `out` the pieces of `text` as an Isolated split: every match and every gap
    // between matches, in order, none empty. Thread-safe. Input must be valid UTF-8.
    void split_isolated(std::string_view text, std::vector<std::string_view> &out) const;
    // Same, but drops the matches (behavior "Removed").
    void split_removed(std::string_view text, std::vector<std::string_view> &out) const;

    const std::string &pattern() const { return pattern_; }

private:
    void split(std::string_view text, bool keep_matches, std::vector<std::string_view> &out) const;
    std::string pattern_;
    void *code_ = nullptr;  // pcre2_code_8
    bool jit_ = false;
};

// Oniguruma's \s and \S follow Unicode White_Space (it includes U+0085); PCRE2's do not.
std::string onig_to_pcre2(const std::string &pattern);

}  // namespace edgellm
