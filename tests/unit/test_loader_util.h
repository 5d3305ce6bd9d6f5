// Helpers for the loader tests: locating tests/data, reading goldens.json, temporary files, and
// checking that a call throws edgellm::Error with a given status and a message naming the file.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <simdjson.h>

#include "core/error.h"

namespace loader_test {

inline std::string data_dir() {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE_MESSAGE(d != nullptr, "EDGELLM_TEST_DATA is not set (ctest sets it to tests/data)");
    return std::string(d);
}
inline std::string tiny(const std::string &name) { return data_dir() + "/tiny/" + name; }

inline std::vector<uint8_t> read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot read " << path);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string &path, const void *data, size_t n) {
    std::FILE *f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (n) REQUIRE(std::fwrite(data, 1, n, f) == n);
    std::fclose(f);
}
inline void write_file(const std::string &path, const std::string &s) { write_file(path, s.data(), s.size()); }
inline void write_file(const std::string &path, const std::vector<uint8_t> &v) { write_file(path, v.data(), v.size()); }

// A fresh directory under /tmp, removed (with its files, no sub-directories) at scope exit.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/edgellm_loader_XXXXXX";
        char *p = mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~TempDir() {
        std::string cmd = "rm -rf '" + path + "'";
        if (std::system(cmd.c_str()) != 0) {
        }
    }
    std::string operator/(const std::string &name) const { return path + "/" + name; }
};

// Runs fn, which must throw edgellm::Error with `status` and a message containing `needle`.
// Returns the message.
inline std::string expect_error(const std::function<void()> &fn, edgellm_status status, const std::string &needle) {
    try {
        fn();
    } catch (const edgellm::Error &e) {
        const std::string msg = e.what();
        CHECK_MESSAGE(e.status() == status, "status " << (int)e.status() << " (want " << (int)status << "): " << msg);
        CHECK_MESSAGE(msg.find(needle) != std::string::npos, "message lacks '" << needle << "': " << msg);
        return msg;
    } catch (const std::exception &e) {
        FAIL("unexpected exception type: " << std::string(e.what()));
        return "";
    }
    FAIL("no error thrown (want status " << (int)status << ")");
    return "";
}

// goldens.json, parsed once.
struct Goldens {
    simdjson::dom::parser parser;
    simdjson::padded_string text;
    simdjson::dom::element root;
    Goldens() {
        auto r = simdjson::padded_string::load(tiny("goldens.json"));
        REQUIRE_MESSAGE(r.error() == simdjson::SUCCESS, "cannot read goldens.json");
        text = std::move(r).value_unsafe();
        REQUIRE(parser.parse(text).get(root) == simdjson::SUCCESS);
    }
    simdjson::dom::element model(const std::string &name) {
        simdjson::dom::element e;
        REQUIRE_MESSAGE(root["models"][name].get(e) == simdjson::SUCCESS, "no goldens for " << name);
        return e;
    }
};

inline Goldens &goldens() {
    static Goldens g;
    return g;
}

inline std::vector<float> floats(simdjson::dom::element e) {
    std::vector<float> v;
    simdjson::dom::array a;
    REQUIRE(e.get(a) == simdjson::SUCCESS);
    for (auto x : a) {
        double d = 0;
        REQUIRE(x.get(d) == simdjson::SUCCESS);
        v.push_back((float)d);
    }
    return v;
}

}  // namespace loader_test
