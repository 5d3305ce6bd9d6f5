// libFuzzer target: tokenize / detokenize round trips through the C ABI on arbitrary bytes. The
// first byte picks a tokenizer and the flags; the rest is the text. Invalid UTF-8 must be refused
// with EDGELLM_ERR_INVALID_UTF8. For byte-level BPE tokenizers without special-token parsing, the
// ids must decode to exactly the input, and their pieces concatenated must be exactly the input.
// Detokenizing arbitrary ids must give valid UTF-8.
#include "fuzz_util.h"

#include <vector>

namespace {

struct Tok {
    edgellm_model *m;
    bool byte_level;  // exact round trip expected
};

// Opened once and never closed: the heap vector stays reachable, so LeakSanitizer does not count
// the models at exit.
std::vector<Tok> &models() {
    static std::vector<Tok> *v = [] {
        edgellm_set_log_callback(nullptr, nullptr, 0);
        auto *r = new std::vector<Tok>;
        // tiny models: byte-level BPE tokenizer.json (HF) and its GGUF form (gpt2 vocabulary).
        r->push_back({fuzz::open_or_die(fuzz::data("tiny/hf_f32")), true});
        r->push_back({fuzz::open_or_die(fuzz::data("tiny/tiny_q4_0.gguf")), true});
        r->push_back({fuzz::open_or_die(fuzz::data("tiny/hf_llama3_gqa")), false});
        return r;
    }();
    return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    auto &ms = models();
    const Tok &t = ms[data[0] % ms.size()];
    const uint32_t flags = (data[0] >> 4) & 3u;
    const char *text = reinterpret_cast<const char *>(data + 1);
    const size_t len = size - 1;
    const bool valid = fuzz::valid_utf8(text, len);

    std::vector<int32_t> ids(len + 8);
    size_t n = 0;
    edgellm_status st = edgellm_tokenize(t.m, text, len, flags, ids.data(), ids.size(), &n);
    if (st == EDGELLM_ERR_BUFFER_TOO_SMALL) {
        ids.resize(n);
        st = edgellm_tokenize(t.m, text, len, flags, ids.data(), ids.size(), &n);
    }
    fuzz::check_status(st, "tokenize");
    if (valid != (st == EDGELLM_OK)) {
        std::fprintf(stderr, "tokenize: status %d for %s UTF-8\n", (int)st, valid ? "valid" : "invalid");
        std::abort();
    }
    if (st == EDGELLM_OK) {
        ids.resize(n);
        const int32_t n_vocab = edgellm_model_n_vocab(t.m);
        for (int32_t id : ids)
            if (id < 0 || id >= n_vocab) { std::fprintf(stderr, "tokenize: id %d outside [0, %d)\n", id, n_vocab); std::abort(); }
        std::string out(len * 4 + 64, '\0');
        size_t out_len = 0;
        fuzz::check_status(edgellm_detokenize(t.m, ids.data(), ids.size(), 0, &out[0], out.size(), &out_len), "detokenize");
        out.resize(std::min(out_len, out.size()));
        if (!fuzz::valid_utf8(out.data(), out.size())) std::abort();
        if (t.byte_level && flags == 0 && out != std::string(text, len)) {
            std::fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", len, out.size());
            std::abort();
        }
        if (t.byte_level && flags == 0) {
            std::string pieces;
            char buf[256];
            for (int32_t id : ids) {
                size_t pl = 0;
                fuzz::check_status(edgellm_token_to_piece(t.m, id, buf, sizeof buf, &pl), "token_to_piece");
                if (pl <= sizeof buf) pieces.append(buf, pl);
            }
            if (pieces != std::string(text, len)) { std::fprintf(stderr, "pieces differ from the input\n"); std::abort(); }
        }
    }
    // Arbitrary ids (out-of-range ones included) decode to valid UTF-8 or INVALID_TOKEN.
    std::vector<int32_t> raw(len / 4);
    if (!raw.empty()) std::memcpy(raw.data(), text, raw.size() * 4);
    std::string out(raw.size() * 64 + 16, '\0');
    size_t out_len = 0;
    st = edgellm_detokenize(t.m, raw.data(), raw.size(), flags & 1u, &out[0], out.size(), &out_len);
    fuzz::check_status(st, "detokenize(raw)");
    if (st == EDGELLM_OK && !fuzz::valid_utf8(out.data(), out_len)) std::abort();
    return 0;
}
