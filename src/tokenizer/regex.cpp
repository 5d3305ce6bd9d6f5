// PCRE2 wrapper for pre-tokenizer Split regexes: UTF + UCP mode so \p{L}, \p{N} and \s are the
// Unicode classes, JIT-compiled, one match-data block and JIT stack per thread.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace edgellm {

std::string onig_to_pcre2(const std::string &p) {
    std::string out;
    out.reserve(p.size() + 16);
    int in_class = 0;
    for (size_t i = 0; i < p.size(); i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            char n = p[i + 1];
            if (n == 's') {
                out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            } else if (n == 'S' && !in_class) {
                out += "[^\\s\\x{85}]";
            } else {
                out += c;
                out += n;
            }
            i++;
            continue;
        }
        if (c == '[') {
            in_class++;
            out += c;
            // A ']' right after '[' or '[^' is a literal.
            if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
            if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
            continue;
        }
        if (c == ']' && in_class) in_class--;
        out += c;
    }
    return out;
}

Regex::Regex(const std::string &pattern) : pattern_(pattern) {
    std::string p = onig_to_pcre2(pattern);
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | PCRE2_NEVER_BACKSLASH_C, &err, &off, nullptr);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "pre-tokenizer regex /%s/ rejected at offset %zu: %s",
             pattern.c_str(), static_cast<size_t>(off), reinterpret_cast<const char *>(msg));
    }
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code *>(code_)); }

namespace {
// Per-thread match state, reused across calls and patterns.
struct MatchState {
    pcre2_match_data *md = nullptr;
    pcre2_match_context *mc = nullptr;
    pcre2_jit_stack *js = nullptr;
    MatchState() {
        md = pcre2_match_data_create(4, nullptr);
        mc = pcre2_match_context_create(nullptr);
        js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (mc && js) pcre2_jit_stack_assign(mc, nullptr, js);
    }
    ~MatchState() {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        pcre2_jit_stack_free(js);
    }
};
}  // namespace

void Regex::split(std::string_view text, bool keep_matches, std::vector<std::string_view> &out) const {
    thread_local MatchState st;
    if (!st.md || !st.mc) fail(EDGELLM_ERR_OUT_OF_MEMORY, "PCRE2 match data allocation failed");
    auto *code = static_cast<pcre2_code *>(code_);
    const auto *subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0, last = 0;
    while (pos <= text.size()) {
        int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), pos, 0, st.md, st.mc)
                      : pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.md, st.mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            fail(EDGELLM_ERR_INTERNAL, "regex match failed: %s", reinterpret_cast<const char *>(msg));
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st.md);
        size_t s = ov[0], e = ov[1];
        if (e == s) {
            // Empty match: step one code point and search again.
            if (s >= text.size()) break;
            pos = s + unicode::utf8_len(static_cast<unsigned char>(text[s]));
            continue;
        }
        if (s > last) out.push_back(text.substr(last, s - last));
        if (keep_matches) out.push_back(text.substr(s, e - s));
        last = pos = e;
    }
    if (last < text.size()) out.push_back(text.substr(last));
}

void Regex::split_isolated(std::string_view text, std::vector<std::string_view> &out) const {
    split(text, true, out);
}
void Regex::split_removed(std::string_view text, std::vector<std::string_view> &out) const {
    split(text, false, out);
}

}  // namespace edgellm
