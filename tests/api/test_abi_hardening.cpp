// C ABI regressions for untrusted model files (issue #26), public header only: a GGUF with weights
// but no tokenizer metadata opens, and everything that needs text returns EDGELLM_ERR_UNSUPPORTED
// instead of dereferencing the missing tokenizer; a tokenization that yields no tokens copies
// nothing (memcpy from a NULL vector was undefined behaviour, reported by UBSan).
#include <doctest/doctest.h>
#include <edgellm/edgellm.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

std::string tiny(const char *name) {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE_MESSAGE(d != nullptr, "EDGELLM_TEST_DATA is not set (ctest sets it to tests/data)");
    return std::string(d) + "/tiny/" + name;
}

edgellm_model *open_cpu(const std::string &path) {
    edgellm_model_params p;
    edgellm_model_params_init(&p);
    p.backend = EDGELLM_BACKEND_CPU;
    p.n_threads = 1;
    edgellm_model *m = nullptr;
    edgellm_status st = edgellm_model_open(path.c_str(), &p, &m);
    REQUIRE_MESSAGE(st == EDGELLM_OK, edgellm_last_error());
    return m;
}

}  // namespace

TEST_CASE("a GGUF without tokenizer metadata opens; text calls return UNSUPPORTED, token calls work") {
    std::ifstream in(tiny("tiny_q4_0.gguf"), std::ios::binary);
    REQUIRE(in.good());
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Renaming every "tokenizer.*" key (same length, so offsets stay valid) removes the vocabulary.
    size_t renamed = 0;
    for (size_t at = bytes.find("tokenizer."); at != std::string::npos; at = bytes.find("tokenizer.", at + 1)) {
        bytes[at + 9] = '_';
        renamed++;
    }
    REQUIRE(renamed > 0);
    std::string path = "/tmp/edgellm_no_tokenizer_" + std::to_string(::getpid()) + ".gguf";
    {
        std::ofstream out(path, std::ios::binary);
        out << bytes;
    }
    edgellm_model *m = open_cpu(path);
    std::remove(path.c_str());

    int32_t toks[8];
    size_t n = 0;
    CHECK(edgellm_tokenize(m, "hi", 2, 0, toks, 8, &n) == EDGELLM_ERR_UNSUPPORTED);
    edgellm_session *s = nullptr;
    REQUIRE(edgellm_session_create(m, nullptr, &s) == EDGELLM_OK);
    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);
    gp.max_new_tokens = 2;
    CHECK(edgellm_generate(s, "hello", &gp, nullptr, nullptr, nullptr) == EDGELLM_ERR_UNSUPPORTED);
    CHECK(edgellm_generate(s, nullptr, &gp, nullptr, nullptr, nullptr) == EDGELLM_ERR_UNSUPPORTED);
    CHECK(edgellm_generate(s, "", &gp, nullptr, nullptr, nullptr) == EDGELLM_ERR_UNSUPPORTED);
    edgellm_chat_message msg = {"user", "hi"};
    CHECK(edgellm_chat(s, &msg, 1, &gp, nullptr, nullptr, nullptr) == EDGELLM_ERR_UNSUPPORTED);
    char buf[256];
    size_t len = 0;
    CHECK(edgellm_chat_apply_template(m, nullptr, &msg, 1, 1, buf, sizeof buf, &len) == EDGELLM_ERR_UNSUPPORTED);
    // Token ids still evaluate.
    int32_t ids[3] = {1, 2, 3};
    std::vector<float> logits((size_t)edgellm_model_n_vocab(m));
    CHECK(edgellm_session_eval(s, ids, 3, logits.data()) == EDGELLM_OK);
    edgellm_session_free(s);
    edgellm_model_close(m);
}

TEST_CASE("tokenizing to no tokens copies nothing and reports zero") {
    for (const char *model : {"tiny_q4_0.gguf", "hf_f32"}) {
        CAPTURE(model);
        edgellm_model *m = open_cpu(tiny(model));
        int32_t toks[4] = {-7, -7, -7, -7};
        size_t n = 99;
        CHECK(edgellm_tokenize(m, "", 0, 0, toks, 4, &n) == EDGELLM_OK);
        CHECK(n == 0);
        CHECK(toks[0] == -7);
        n = 99;
        CHECK(edgellm_tokenize(m, nullptr, 0, 0, toks, 4, &n) == EDGELLM_OK);
        CHECK(n == 0);
        char text[8] = "xxxxxxx";
        size_t len = 99;
        CHECK(edgellm_detokenize(m, toks, 0, 0, text, sizeof text, &len) == EDGELLM_OK);
        CHECK(len == 0);
        CHECK(text[0] == '\0');
        edgellm_model_close(m);
    }
}
