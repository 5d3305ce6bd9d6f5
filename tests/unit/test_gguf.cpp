// GGUF parser robustness: truncation at many offsets, corrupted header fields, counts, offsets,
// types and metadata must give INVALID_MODEL / UNSUPPORTED_MODEL naming the file, never a crash
// or an out-of-bounds read (run under ASan/UBSan with -DEDGELLM_SANITIZE=ON).
#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "model/gguf.h"
#include "model/loader.h"
#include "test_loader_util.h"

using namespace edgellm;
using namespace loader_test;

namespace {

const char *kModel = "tiny_q4_0.gguf";

size_t find_bytes(const std::vector<uint8_t> &f, const std::string &s) {
    auto it = std::search(f.begin(), f.end(), s.begin(), s.end());
    REQUIRE_MESSAGE(it != f.end(), "'" << s << "' not in file");
    return (size_t)(it - f.begin());
}
template <typename T> void put(std::vector<uint8_t> &f, size_t pos, T v) {
    REQUIRE(pos + sizeof(T) <= f.size());
    std::memcpy(f.data() + pos, &v, sizeof(T));
}
// Offset of the fields following a tensor's name in the tensor-info section.
size_t tensor_info(const std::vector<uint8_t> &f, const std::string &name) { return find_bytes(f, name) + name.size(); }

void load_path(const std::string &p) { load_model(p, LoadOptions()); }

}  // namespace

TEST_CASE("GGUF: missing file and directory errors") {
    expect_error([] { load_path("/nonexistent/model.gguf"); }, EDGELLM_ERR_FILE_NOT_FOUND, "/nonexistent/model.gguf");
    TempDir d;
    write_file(d / "empty.gguf", std::string());
    expect_error([&] { load_path(d / "empty.gguf"); }, EDGELLM_ERR_INVALID_MODEL, "empty.gguf");
    write_file(d / "text.gguf", std::string("hello, not a model at all"));
    expect_error([&] { load_path(d / "text.gguf"); }, EDGELLM_ERR_INVALID_MODEL, "bad magic");
}

TEST_CASE("GGUF: truncated at many offsets gives INVALID_MODEL naming the file") {
    std::vector<uint8_t> f = read_file(tiny(kModel));
    TempDir d;
    const std::string p = d / "trunc.gguf";
    std::vector<size_t> cuts;
    for (size_t i = 0; i < 96; ++i) cuts.push_back(i);
    for (size_t i = 96; i < f.size(); i += 331) cuts.push_back(i);
    cuts.push_back(f.size() - 1);
    for (size_t n : cuts) {
        CAPTURE(n);
        write_file(p, f.data(), n);
        expect_error([&] { load_path(p); }, EDGELLM_ERR_INVALID_MODEL, p);
    }
}

TEST_CASE("GGUF: version 2 loads, other versions are rejected") {
    std::vector<uint8_t> f = read_file(tiny(kModel));
    TempDir d;
    put<uint32_t>(f, 4, 2);
    write_file(d / "v2.gguf", f);
    CHECK(load_model(d / "v2.gguf", LoadOptions()).config.n_layer == 2);
    for (uint32_t v : {0u, 1u, 4u, 0x03000000u}) {
        put<uint32_t>(f, 4, v);
        write_file(d / "v.gguf", f);
        expect_error([&] { load_path(d / "v.gguf"); }, EDGELLM_ERR_INVALID_MODEL, "version");
    }
}

TEST_CASE("GGUF: corrupted counts and lengths are caught before allocating") {
    const std::vector<uint8_t> orig = read_file(tiny(kModel));
    TempDir d;
    const std::string p = d / "bad.gguf";
    auto expect = [&](std::vector<uint8_t> f, const char *needle) {
        write_file(p, f);
        expect_error([&] { load_path(p); }, EDGELLM_ERR_INVALID_MODEL, needle);
    };
    std::vector<uint8_t> f = orig;
    put<uint64_t>(f, 8, ~0ull);  // tensor count
    expect(f, "tensor count");
    f = orig;
    put<uint64_t>(f, 16, 1ull << 60);  // metadata count
    expect(f, "metadata count");
    f = orig;
    put<uint64_t>(f, 24, 1ull << 62);  // first key length
    expect(f, "bad.gguf");
    f = orig;
    size_t tok = find_bytes(f, "tokenizer.ggml.tokens") + std::strlen("tokenizer.ggml.tokens");
    put<uint64_t>(f, tok + 8, 1ull << 61);  // after value type (4) and element type (4): the count
    expect(f, "tokenizer.ggml.tokens");
    f = orig;
    put<uint32_t>(f, tok + 4, 77);  // element type
    expect(f, "unknown element type");
    f = orig;
    put<uint32_t>(f, tok, 99);  // value type
    expect(f, "unknown value type");
}

TEST_CASE("GGUF: corrupted tensor infos") {
    const std::vector<uint8_t> orig = read_file(tiny(kModel));
    TempDir d;
    const std::string p = d / "bad.gguf";
    const std::string name = "blk.1.ffn_up.weight";
    const size_t ti = tensor_info(orig, name);  // u32 n_dims, u64 ne[2], u32 type, u64 offset
    auto run = [&](const std::vector<uint8_t> &f, edgellm_status st, const char *needle) {
        write_file(p, f);
        std::string msg = expect_error([&] { load_path(p); }, st, needle);
        CHECK(msg.find(p) != std::string::npos);
    };
    std::vector<uint8_t> f = orig;
    put<uint32_t>(f, ti, 7);
    run(f, EDGELLM_ERR_INVALID_MODEL, "dimensions");
    f = orig;
    put<uint64_t>(f, ti + 4, 1ull << 45);
    run(f, EDGELLM_ERR_INVALID_MODEL, "invalid dimension");
    f = orig;
    put<uint64_t>(f, ti + 4, 48);  // columns not a multiple of the Q4_0 block
    run(f, EDGELLM_ERR_INVALID_MODEL, "multiple of 32");
    f = orig;
    put<uint64_t>(f, ti + 12, 1ull << 30);  // rows: data now runs past the end
    run(f, EDGELLM_ERR_INVALID_MODEL, "outside");
    f = orig;
    put<uint64_t>(f, ti + 12, 161);  // in bounds, but the wrong shape for the model
    run(f, EDGELLM_ERR_INVALID_MODEL, "expected");
    f = orig;
    put<uint32_t>(f, ti + 20, 6);  // Q5_0: known, not supported
    run(f, EDGELLM_ERR_UNSUPPORTED_MODEL, "blk.1.ffn_up.weight");
    f = orig;
    put<uint32_t>(f, ti + 20, 1234);  // unknown type
    run(f, EDGELLM_ERR_UNSUPPORTED_MODEL, "unsupported GGML type 1234");
    f = orig;
    put<uint64_t>(f, ti + 24, ~0ull - 7);  // offset overflow
    run(f, EDGELLM_ERR_INVALID_MODEL, "bad.gguf");
    f = orig;
    uint64_t off;
    std::memcpy(&off, f.data() + ti + 24, 8);
    put<uint64_t>(f, ti + 24, off + 4);  // misaligned
    run(f, EDGELLM_ERR_INVALID_MODEL, "aligned");
    f = orig;
    f[find_bytes(f, name) + 4] = 'X';  // renamed: tensor missing
    run(f, EDGELLM_ERR_INVALID_MODEL, "blk.1.ffn_up.weight' is missing");
}

TEST_CASE("GGUF: wrong metadata values") {
    const std::vector<uint8_t> orig = read_file(tiny(kModel));
    TempDir d;
    const std::string p = d / "bad.gguf";
    std::vector<uint8_t> f = orig;
    size_t arch = find_bytes(f, "general.architecture") + std::strlen("general.architecture") + 4 + 8;
    std::memcpy(f.data() + arch, "gpt2x", 5);
    write_file(p, f);
    expect_error([&] { load_path(p); }, EDGELLM_ERR_UNSUPPORTED_MODEL, "gpt2x");

    f = orig;
    size_t bc = find_bytes(f, "llama.block_count") + std::strlen("llama.block_count");
    put<uint32_t>(f, bc, GGUF_STRING);  // a uint32 value now read as a string: length runs off
    write_file(p, f);
    expect_error([&] { load_path(p); }, EDGELLM_ERR_INVALID_MODEL, "bad.gguf");

    f = orig;
    put<uint32_t>(f, bc + 4, 0);  // zero layers
    write_file(p, f);
    expect_error([&] { load_path(p); }, EDGELLM_ERR_INVALID_MODEL, "layer count");

    f = orig;
    put<uint32_t>(f, bc + 4, 3);  // more layers than tensors
    write_file(p, f);
    expect_error([&] { load_path(p); }, EDGELLM_ERR_INVALID_MODEL, "blk.2.attn_norm.weight' is missing");

    f = orig;
    size_t hc = find_bytes(f, "llama.attention.head_count_kv") + std::strlen("llama.attention.head_count_kv");
    put<uint32_t>(f, hc + 4, 3);  // 4 heads, 3 kv heads
    write_file(p, f);
    expect_error([&] { load_path(p); }, EDGELLM_ERR_INVALID_MODEL, "key/value head count");
}

TEST_CASE("GGUF: random byte corruption of the header never crashes") {
    const std::vector<uint8_t> orig = read_file(tiny(kModel));
    uint64_t header_end = ~0ull;
    {
        GgufFile g(tiny(kModel));
        for (const GgufTensorInfo &t : g.tensors()) header_end = std::min(header_end, t.offset);
        CHECK(g.version() == 3);
        CHECK(g.alignment() == 32);
    }
    TempDir d;
    const std::string p = d / "fuzz.gguf";
    std::mt19937 rng(42);
    int ok = 0, errors = 0;
    for (int it = 0; it < 400; ++it) {
        std::vector<uint8_t> f = orig;
        int n = 1 + (int)(rng() % 4);
        for (int k = 0; k < n; ++k) f[rng() % header_end] ^= (uint8_t)(1u << (rng() % 8));
        write_file(p, f);
        try {
            load_path(p);
            ++ok;
        } catch (const Error &e) {
            ++errors;
            CHECK(std::string(e.what()).find(p) != std::string::npos);
        }
    }
    MESSAGE("fuzz: " << ok << " loaded, " << errors << " rejected");
    CHECK(ok + errors == 400);
}

TEST_CASE("GGUF parser: typed metadata getters") {
    GgufFile g(tiny("tiny_q4_k.gguf"));
    int64_t i;
    REQUIRE(g.get_int("llama.block_count", i));
    CHECK(i == 1);
    double x;
    REQUIRE(g.get_float("llama.rope.freq_base", x));
    CHECK(x == 10000.0);
    std::string s;
    REQUIRE(g.get_string("general.architecture", s));
    CHECK(s == "llama");
    CHECK_FALSE(g.get_int("no.such.key", i));
    CHECK(g.array_length("tokenizer.ggml.tokens") == 384);
    expect_error([&] { g.get_int("general.architecture", i); }, EDGELLM_ERR_INVALID_MODEL, "must be an integer");
    expect_error([&] { std::vector<std::string> v; g.get_string_array("tokenizer.ggml.token_type", v); },
                 EDGELLM_ERR_INVALID_MODEL, "array of strings");
    const GgufTensorInfo *t = g.find_tensor("blk.0.attn_q.weight");
    REQUIRE(t != nullptr);
    CHECK(t->type == SrcType::Q4_K);
    CHECK(t->cols() == 256);
    CHECK(t->rows() == 256);
    CHECK(t->nbytes == 256 * 144);
}
