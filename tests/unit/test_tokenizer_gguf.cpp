// GGUF gpt2 vocabularies: GgufVocab built from the Llama 3 and Qwen3 tokenizer.json files the way
// llama.cpp's converter fills it (tokens by id, merges, token types, pre name), and the real
// SmolLM2 GGUF vocabulary (dumped to JSON by make_tokenizer_goldens.py), against HF goldens.
#include "test_tokenizer_util.h"

using edgellm::GgufVocab;
using edgellm::Tokenizer;
using edgellm::TokenizerSource;

namespace {
GgufVocab gguf_from_tokenizer_json(const std::string &path, const char *pre) {
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.load(path).value();
    GgufVocab v;
    v.model = "gpt2";
    v.pre = pre;
    simdjson::dom::object vocab = doc["model"]["vocab"].get_object().value();
    for (auto kv : vocab) {
        size_t id = static_cast<size_t>(kv.value.get_int64().value());
        if (id >= v.tokens.size()) v.tokens.resize(id + 1);
        v.tokens[id] = std::string(kv.key);
    }
    v.token_types.assign(v.tokens.size(), 1);
    simdjson::dom::array added = doc["added_tokens"].get_array().value();
    for (auto a : added) {
        size_t id = static_cast<size_t>(a["id"].get_int64().value());
        if (id >= v.tokens.size()) {
            v.tokens.resize(id + 1);
            v.token_types.resize(id + 1, 1);
        }
        v.tokens[id] = std::string(a["content"].get_string().value());
        v.token_types[id] = a["special"].get_bool().value() ? 3 : 4;  // CONTROL / USER_DEFINED
    }
    simdjson::dom::array merges = doc["model"]["merges"].get_array().value();
    for (auto m : merges) {
        std::string_view s;
        if (!m.get_string().get(s)) {
            v.merges.emplace_back(s);
        } else {
            simdjson::dom::array pr = m.get_array().value();
            v.merges.push_back(std::string(pr.at(0).get_string().value()) + " " +
                               std::string(pr.at(1).get_string().value()));
        }
    }
    v.add_bos = 0;
    return v;
}
}  // namespace

TEST_CASE("GGUF gpt2 vocab, pre=llama-bpe, matches the Llama 3 goldens") {
    TokenizerSource src;
    src.gguf = gguf_from_tokenizer_json(tokt::shared_tok() + "/llama3/tokenizer.json", "llama-bpe");
    src.gguf->bos_id = 128000;
    src.gguf->eos_id = 128009;
    auto t = Tokenizer::create(src);
    CHECK(t->n_vocab() == 128256);
    CHECK(t->bos_text == "<|begin_of_text|>");
    CHECK(t->eos_text == "<|eot_id|>");
    tokt::check_golden(*t, "llama3");
}

TEST_CASE("GGUF gpt2 vocab, pre=qwen2, matches the Qwen3 goldens") {
    TokenizerSource src;
    src.gguf = gguf_from_tokenizer_json(tokt::shared_tok() + "/qwen3/tokenizer.json", "qwen2");
    auto t = Tokenizer::create(src);
    tokt::check_golden(*t, "qwen3");
}

TEST_CASE("SmolLM2 GGUF vocabulary (pre=smollm) matches HF tokenizers") {
    simdjson::dom::parser p;
    simdjson::dom::element d = p.load(tokt::test_data() + "/smollm2_vocab.json").value();
    GgufVocab v;
    v.model = std::string(d["model"].get_string().value());
    v.pre = std::string(d["pre"].get_string().value());
    simdjson::dom::array toks = d["tokens"].get_array().value();
    for (auto x : toks) v.tokens.emplace_back(x.get_string().value());
    v.token_types = tokt::ids_of(d["token_types"].value());
    simdjson::dom::array merges = d["merges"].get_array().value();
    for (auto x : merges) v.merges.emplace_back(x.get_string().value());
    v.bos_id = static_cast<int32_t>(d["bos_id"].get_int64().value());
    v.eos_id = static_cast<int32_t>(d["eos_id"].get_int64().value());
    v.unk_id = static_cast<int32_t>(d["unk_id"].get_int64().value());
    v.add_bos = static_cast<int>(d["add_bos"].get_int64().value());
    CHECK(v.pre == "smollm");
    CHECK(v.tokens.size() == 49152);
    CHECK(v.merges.size() == 48900);
    TokenizerSource src;
    src.gguf = v;
    auto t = Tokenizer::create(src);
    CHECK(t->eos_text == "<|im_end|>");
    tokt::check_golden(*t, "smollm2");
    for (const auto &s : tokt::load_corpus()) {
        auto ids = t->encode(s, false, true);
        std::string cat;
        for (int32_t id : ids) cat += t->token_piece(id);
        CHECK(cat == s);
    }
}
