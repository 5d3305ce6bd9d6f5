// llama.cpp's vocabulary-only GGUF files of the architecture families (models/ggml-vocab-*.gguf in
// the llama-cpp-python source package, unpacked into the cache folder by
// tests/tools/make_arch_models.py) tokenize each string of their .inp file to the ids of their
// .out file, as llama.cpp's test-tokenizer-0 checks them (no BOS / EOS added, special tokens not
// parsed): Llama's SentencePiece and BPE, Qwen2's, Phi-3's and GPT-2's. (Qwen3.5's `qwen35`
// pre-tokenizer and Gemma 4's `gemma4` model are not supported.) Skipped, with a message, where
// the package is not in the cache.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/gguf.h"
#include "model/loader_internal.h"
#include "test_tokenizer_util.h"

using namespace edgellm;

namespace {

std::filesystem::path vocab_dir() {
    namespace fs = std::filesystem;
    const char *c = std::getenv("EDGELLM_CACHE_DIR");
    const char *home = std::getenv("HOME");
    const fs::path cache = c ? fs::path(c) : fs::path(home ? home : "/nonexistent") / ".cache" / "edgellm";
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(cache / "llama-cpp-python", ec)) {
        const fs::path p = e.path() / "vendor" / "llama.cpp" / "models";
        if (fs::exists(p / "ggml-vocab-qwen2.gguf")) return p;
    }
    return {};
}

std::string slurp(const std::filesystem::path &p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("llama.cpp's ggml-vocab files of the families tokenize their .inp to their .out") {
    const std::filesystem::path dir = vocab_dir();
    if (dir.empty()) {
        MESSAGE("llama-cpp-python's models/ggml-vocab-*.gguf are not in the cache folder (tests/tools/make_arch_models.py "
                "unpacks them): skipped");
        return;
    }
    for (const char *name : {"llama-spm", "llama-bpe", "qwen2", "phi-3", "gpt-2"}) {
        INFO("ggml-vocab-", std::string(name));
        const std::filesystem::path base = dir / ("ggml-vocab-" + std::string(name) + ".gguf");
        GgufFile g(base.string());
        TokenizerSource src;
        src.gguf = gguf_read_vocab(g);
        std::unique_ptr<Tokenizer> t;
        try {
            t = Tokenizer::create(src);
        } catch (const Error &e) {
            FAIL_CHECK(std::string(e.what()));
            continue;
        }
        const std::string inp = slurp(base.string() + ".inp"), out = slurp(base.string() + ".out");
        const std::string sep = "\n__ggml_vocab_test__\n";
        std::vector<std::string> texts;
        for (size_t pos = 0;;) {
            const size_t at = inp.find(sep, pos);
            if (at == std::string::npos) break;
            texts.push_back(inp.substr(pos, at - pos));
            pos = at + sep.size();
        }
        std::istringstream lines(out);
        std::string line;
        int checked = 0, wrong = 0;
        for (const std::string &text : texts) {
            REQUIRE(std::getline(lines, line));
            std::istringstream ids(line);
            std::vector<int32_t> want;
            for (int32_t id; ids >> id;) want.push_back(id);
            const std::vector<int32_t> got = t->encode(text, false, false);
            if (got != want) {
                ++wrong;
                std::string a, b;
                for (int32_t id : got) a += " " + std::to_string(id);
                FAIL_CHECK("'" << text << "':" << a << " !=" << line);
            }
            ++checked;
        }
        MESSAGE("ggml-vocab-" << std::string(name) << ": " << checked << " strings, " << wrong << " wrong");
        CHECK(checked >= 10);
    }
}
