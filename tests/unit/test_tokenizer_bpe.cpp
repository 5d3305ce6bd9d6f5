// tokenizer.json BPE tokenizers (Llama 3, Qwen3, a 32k SentencePiece-style BPE) against goldens
// from Hugging Face `tokenizers`, plus streaming (token_piece), thread-safety and error paths.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "test_tokenizer_util.h"

using edgellm::Tokenizer;
using edgellm::TokenizerSource;

namespace {
std::unique_ptr<Tokenizer> hf(const char *name) {
    TokenizerSource src;
    src.hf_dir = tokt::shared_tok() + "/" + name;
    return Tokenizer::create(src);
}

// Concatenated token_piece() bytes must equal the input bytes for byte-level BPE.
void check_stream_roundtrip(const Tokenizer &t) {
    for (const auto &s : tokt::load_corpus()) {
        auto ids = t.encode(s, false, true);
        std::string cat;
        for (int32_t id : ids) cat += t.token_piece(id);
        CHECK_MESSAGE(cat == s, "stream round trip: \"" << s.substr(0, 60) << "\"");
    }
}
}  // namespace

TEST_CASE("llama3 tokenizer.json matches HF tokenizers") {
    auto t = hf("llama3");
    CHECK(t->n_vocab() == 128256);
    CHECK(t->bos_id == 128000);
    CHECK(t->bos_text == "<|begin_of_text|>");
    CHECK(t->eos_id == 128001);
    CHECK(std::find(t->eog_ids.begin(), t->eog_ids.end(), 128009) != t->eog_ids.end());  // <|eot_id|>
    CHECK(t->is_special(128009));
    CHECK(!t->is_special(1000));
    CHECK(t->encode("Hello world", false, false) == std::vector<int32_t>{9906, 1917});
    CHECK(t->encode("<|eot_id|>", false, true) == std::vector<int32_t>{128009});
    CHECK(t->encode("<|eot_id|>", false, false).size() > 1);
    CHECK(t->chat_template.find("start_header_id") != std::string::npos);
    tokt::check_golden(*t, "llama3");
    check_stream_roundtrip(*t);
}

TEST_CASE("qwen3 tokenizer.json (NFC, added non-special tokens) matches HF tokenizers") {
    auto t = hf("qwen3");
    CHECK(t->eos_text == "<|im_end|>");
    CHECK(t->bos_id == -1);
    tokt::check_golden(*t, "qwen3");
}

TEST_CASE("SentencePiece-style tokenizer.json (spm32k) matches HF tokenizers") {
    auto t = hf("spm32k-json");
    CHECK(t->bos_id == 1);
    CHECK(t->eos_id == 2);
    tokt::check_golden(*t, "spm32k-json");
    // token_piece: "▁" becomes a space, <0x..> tokens are single raw bytes.
    auto ids = t->encode("a 𝄞", false, false);  // U+1D11E is not in the vocab: 4 byte tokens
    std::string cat;
    for (int32_t id : ids) cat += t->token_piece(id);
    CHECK(cat == " a 𝄞");
    CHECK(ids.size() >= 4);
    CHECK(t->token_piece(ids.back()) == "\x9E");
    CHECK(t->decode(ids.data(), ids.size(), false) == "a 𝄞");
    CHECK(t->decode(ids.data(), ids.size() - 1, false) == "a \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("token_piece streams never lose bytes and split UTF-8 only inside tokens") {
    auto t = hf("llama3");
    std::string s = "日本語 👨‍👩‍👧‍👦 x";
    auto ids = t->encode(s, false, false);
    std::string cat;
    for (int32_t id : ids) cat += t->token_piece(id);
    CHECK(cat == s);
    CHECK(t->decode(ids.data(), ids.size(), false) == s);
}

TEST_CASE("tokenizer errors: invalid UTF-8, bad ids, missing files") {
    auto t = hf("llama3");
    auto status_of = [](auto fn) {
        try {
            fn();
        } catch (const edgellm::Error &e) {
            return e.status();
        }
        return EDGELLM_OK;
    };
    CHECK(status_of([&] { t->encode("ab\xC3", false, false); }) == EDGELLM_ERR_INVALID_UTF8);
    CHECK(status_of([&] { t->encode("\xED\xA0\x80", false, false); }) == EDGELLM_ERR_INVALID_UTF8);  // surrogate
    CHECK(status_of([&] { t->encode("\xC0\xAF", false, false); }) == EDGELLM_ERR_INVALID_UTF8);      // overlong
    int32_t bad[] = {5, 1 << 20};
    CHECK(status_of([&] { t->decode(bad, 2, false); }) == EDGELLM_ERR_INVALID_TOKEN);
    CHECK(status_of([&] { t->token_piece(-1); }) == EDGELLM_ERR_INVALID_TOKEN);
    TokenizerSource src;
    src.hf_dir = "/nonexistent/dir";
    CHECK(status_of([&] { Tokenizer::create(src); }) == EDGELLM_ERR_FILE_NOT_FOUND);
}

TEST_CASE("encode is thread-safe and deterministic") {
    auto t = hf("qwen3");
    auto corpus = tokt::load_corpus();
    std::vector<std::vector<int32_t>> ref;
    for (const auto &s : corpus) ref.push_back(t->encode(s, true, true));
    std::vector<int> bad(4, 0);
    std::vector<std::thread> th;
    for (int k = 0; k < 4; k++)
        th.emplace_back([&, k] {
            for (size_t i = 0; i < corpus.size(); i++)
                if (t->encode(corpus[(i * 7 + k) % corpus.size()], true, true) != ref[(i * 7 + k) % corpus.size()]) bad[k]++;
        });
    for (auto &x : th) x.join();
    CHECK(bad == std::vector<int>(4, 0));
}

TEST_CASE("Metaspace pre-tokenizer and decoder layouts match HF tokenizers") {
    // The spm32k model with the normalizer/pre-tokenizer/decoder of tests/data/tokenizer/variants.json.
    simdjson::dom::parser p, pv;
    simdjson::dom::element base = p.load(tokt::shared_tok() + "/spm32k-json/tokenizer.json").value();
    simdjson::dom::element variants = pv.load(tokt::test_data() + "/variants.json").value();
    simdjson::dom::object vobj = variants.get_object().value();
    for (auto kv : vobj) {
        std::string name(kv.key);
        std::string json = "{\"version\":\"1.0\",\"added_tokens\":" + simdjson::to_string(base["added_tokens"].value()) +
                           ",\"normalizer\":" + simdjson::to_string(kv.value["normalizer"].value()) +
                           ",\"pre_tokenizer\":" + simdjson::to_string(kv.value["pre_tokenizer"].value()) +
                           ",\"post_processor\":" + simdjson::to_string(base["post_processor"].value()) +
                           ",\"decoder\":" + simdjson::to_string(kv.value["decoder"].value()) +
                           ",\"model\":" + simdjson::to_string(base["model"].value()) + "}";
        std::string path = "/tmp/edgellm_test_" + name + "_" + std::to_string(::getpid()) + ".json";
        {
            std::ofstream f(path, std::ios::binary);
            f << json;
        }
        TokenizerSource src;
        src.hf_dir = path;
        auto t = Tokenizer::create(src);
        std::remove(path.c_str());
        tokt::check_golden(*t, name);
    }
}
