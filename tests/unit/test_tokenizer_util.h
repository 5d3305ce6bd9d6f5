// Shared helpers for the tokenizer tests: locating test data, reading the golden files made by
// tests/tools/make_tokenizer_goldens.py, and checking a tokenizer against them case by case.
#pragma once

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tokt {

inline std::string env_or(const char *name, const char *def) {
    const char *v = std::getenv(name);
    return v && *v ? v : def;
}
inline std::string test_data() { return env_or("EDGELLM_TEST_DATA", "tests/data") + "/tokenizer"; }
// The real tokenizer files: tests/data/tokenizers/tokenizers.tar.xz, unpacked by tests/CMakeLists.txt
// into the build tree (ctest sets EDGELLM_TOKENIZER_DATA to that folder).
inline std::string shared_tok() { return env_or("EDGELLM_TOKENIZER_DATA", "build/tests/data/tokenizers"); }

inline std::vector<int32_t> ids_of(simdjson::dom::element e) {
    std::vector<int32_t> v;
    simdjson::dom::array arr = e.get_array().value();
    for (auto x : arr) v.push_back(static_cast<int32_t>(x.get_int64().value()));
    return v;
}

struct GoldenCase {
    std::vector<int32_t> a, b, c, d;  // (add, parse): a=(0,0) b=(0,1) c=(1,0) d=(1,1)
    std::string dec, dec_skip;
};

inline std::vector<std::string> load_corpus() {
    simdjson::dom::parser p;
    std::vector<std::string> out;
    simdjson::dom::element doc = p.load(test_data() + "/corpus.json").value();
    simdjson::dom::array arr = doc.get_array().value();
    for (auto s : arr)
        out.emplace_back(std::string(s.get_string().value()));
    return out;
}

inline std::vector<GoldenCase> load_golden(const std::string &name, const std::vector<std::string> &corpus) {
    simdjson::dom::parser p;
    auto doc = p.load(test_data() + "/golden_" + name + ".json").value();
    auto prefix = ids_of(doc["prefix"].value()), suffix = ids_of(doc["suffix"].value());
    std::vector<GoldenCase> out;
    size_t i = 0;
    simdjson::dom::array cases = doc["cases"].get_array().value();
    for (auto c : cases) {
        GoldenCase g;
        g.a = ids_of(c["a"].value());
        simdjson::dom::element e;
        g.b = c["b"].get(e) ? g.a : ids_of(e);
        auto wrap = [&](const std::vector<int32_t> &x) {
            std::vector<int32_t> r = prefix;
            r.insert(r.end(), x.begin(), x.end());
            r.insert(r.end(), suffix.begin(), suffix.end());
            return r;
        };
        g.c = c["c"].get(e) ? wrap(g.a) : ids_of(e);
        g.d = c["d"].get(e) ? wrap(g.b) : ids_of(e);
        std::string_view sv;
        g.dec = c["dec"].get_string().get(sv) ? corpus[i] : std::string(sv);
        g.dec_skip = c["dec_skip"].get_string().get(sv) ? corpus[i] : std::string(sv);
        out.push_back(std::move(g));
        i++;
    }
    return out;
}

struct CheckOpts {
    bool encode_unparsed = true;  // check parse_special=false
    bool decode = true;
};

// The strings a golden file covers: its own "strings" array when it has one, else corpus.json.
inline std::vector<std::string> golden_strings(const std::string &name) {
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.load(test_data() + "/golden_" + name + ".json").value();
    simdjson::dom::array arr;
    if (doc["strings"].get_array().get(arr)) return load_corpus();
    std::vector<std::string> out;
    for (auto s : arr) out.emplace_back(std::string(s.get_string().value()));
    return out;
}

// Checks every golden string; reports the first few mismatches in full and counts all.
inline void check_golden(const edgellm::Tokenizer &tok, const std::string &name, CheckOpts opt = {}) {
    auto corpus = golden_strings(name);
    auto golden = load_golden(name, corpus);
    REQUIRE(golden.size() == corpus.size());
    int bad = 0;
    for (size_t i = 0; i < corpus.size(); i++) {
        const auto &s = corpus[i];
        const auto &g = golden[i];
        auto report = [&](const char *what, bool ok) {
            if (ok) return;
            if (++bad <= 8) FAIL_CHECK(name << " case " << i << " (" << std::string(what) << "): \"" << s.substr(0, 80) << "\"");
        };
        report("add=1 parse=1", tok.encode(s, true, true) == g.d);
        report("add=0 parse=1", tok.encode(s, false, true) == g.b);
        if (opt.encode_unparsed) {
            report("add=0 parse=0", tok.encode(s, false, false) == g.a);
            report("add=1 parse=0", tok.encode(s, true, false) == g.c);
        }
        if (opt.decode) {
            report("decode", tok.decode(g.b.data(), g.b.size(), false) == g.dec);
            report("decode skip_special", tok.decode(g.d.data(), g.d.size(), true) == g.dec_skip);
            // Streaming: token_piece bytes concatenated give the input bytes back (byte-level BPE).
        }
    }
    CHECK_MESSAGE(bad == 0, name << ": " << bad << " mismatches over " << corpus.size() << " strings");
}

}  // namespace tokt
