// Helpers shared by the libFuzzer targets: a private scratch directory per process, files written
// into it, the repository's test data, and models opened on the CPU backend with one thread. The
// targets use only the public header (include/edgellm/edgellm.h).
#pragma once

#include <edgellm/edgellm.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

#ifndef EDGELLM_SOURCE_DIR
#error "EDGELLM_SOURCE_DIR must name the repository root (tests/fuzz/CMakeLists.txt sets it)"
#endif

namespace fuzz {

// A directory under $TMPDIR (default /tmp) owned by this process, created once.
inline const std::string &scratch() {
    static const std::string dir = [] {
        const char *t = std::getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/edgellm_fuzz_XXXXXX";
        char *p = mkdtemp(&tmpl[0]);
        if (!p) std::abort();
        return std::string(p);
    }();
    return dir;
}

inline std::string write(const std::string &name, const void *data, size_t n) {
    std::string path = scratch() + "/" + name;
    std::FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (n && std::fwrite(data, 1, n, f) != n) std::abort();
    std::fclose(f);
    return path;
}

inline std::string data(const std::string &rel) { return std::string(EDGELLM_SOURCE_DIR) + "/tests/data/" + rel; }

inline edgellm_model_params cpu_params() {
    edgellm_model_params p;
    edgellm_model_params_init(&p);
    p.backend = EDGELLM_BACKEND_CPU;
    p.n_threads = 1;
    p.context_length = 64;
    p.log_level = EDGELLM_LOG_ERROR;
    return p;
}

inline edgellm_model *open_or_die(const std::string &path) {
    edgellm_model_params p = cpu_params();
    edgellm_model *m = nullptr;
    if (edgellm_model_open(path.c_str(), &p, &m) != EDGELLM_OK) {
        std::fprintf(stderr, "fuzz setup: cannot open %s: %s\n", path.c_str(), edgellm_last_error());
        std::abort();
    }
    return m;
}

// A status a call may return for bad input; anything else (INTERNAL, or a value outside the enum)
// is a finding.
inline bool expected_status(edgellm_status s) {
    switch (s) {
        case EDGELLM_OK: case EDGELLM_CANCELLED: case EDGELLM_CONTEXT_FULL: case EDGELLM_ERR_BUFFER_TOO_SMALL:
        case EDGELLM_ERR_INVALID_ARGUMENT: case EDGELLM_ERR_INVALID_UTF8: case EDGELLM_ERR_INVALID_TOKEN:
        case EDGELLM_ERR_TEMPLATE: case EDGELLM_ERR_UNSUPPORTED: case EDGELLM_ERR_FILE_NOT_FOUND: case EDGELLM_ERR_IO:
        case EDGELLM_ERR_INVALID_MODEL: case EDGELLM_ERR_UNSUPPORTED_MODEL: case EDGELLM_ERR_OUT_OF_MEMORY:
            return true;
        default: return false;
    }
}

inline void check_status(edgellm_status s, const char *where) {
    if (!expected_status(s)) {
        std::fprintf(stderr, "%s returned status %d: %s\n", where, (int)s, edgellm_last_error());
        std::abort();
    }
}

// Valid UTF-8 (no overlongs, surrogates or values past U+10FFFF).
inline bool valid_utf8(const char *s, size_t n) {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s);
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            unsigned b = p[i + k];
            if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
        }
        i += len;
    }
    return true;
}

// Exercises an open model the way an application does: tokenize, render its chat template, and
// generate a few tokens greedily in a small context. Every status must be an expected one.
inline void exercise(edgellm_model *m) {
    int32_t toks[64];
    size_t n = 0;
    check_status(edgellm_tokenize(m, "Hello, world!", 13, EDGELLM_TOKENIZE_ADD_SPECIAL, toks, 64, &n), "tokenize");
    char text[512];
    size_t len = 0;
    if (n <= 64) check_status(edgellm_detokenize(m, toks, n, 0, text, sizeof text, &len), "detokenize");
    edgellm_chat_message msgs[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    check_status(edgellm_chat_apply_template(m, nullptr, msgs, 2, 1, text, sizeof text, &len), "chat_apply_template");
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    sp.n_ctx = 16;
    sp.n_threads = 1;
    edgellm_session *s = nullptr;
    edgellm_status st = edgellm_session_create(m, &sp, &s);
    check_status(st, "session_create");
    if (st != EDGELLM_OK) return;
    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);
    gp.max_new_tokens = 3;
    gp.temperature = 0;
    gp.ignore_eos = 1;
    check_status(edgellm_generate(s, "Hi", &gp, nullptr, nullptr, nullptr), "generate");
    int32_t t0 = 0;
    check_status(edgellm_session_eval(s, &t0, 1, nullptr), "session_eval");
    edgellm_session_free(s);
}

}  // namespace fuzz
