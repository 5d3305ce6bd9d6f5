// Tokenizer benchmark: encodes ~1 MB of mixed-language text (English, code, numbers, CJK,
// Cyrillic, Arabic, Devanagari, emoji; generated with a fixed seed, or read from a file) on one
// thread and prints MB/s and tokens/s, first with a cold word cache, then warm.
// Usage: edgellm-tokenizer-bench [tokenizer dir or file] [text file]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

std::string make_text(size_t bytes) {
    static const char *words[] = {"the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on",
                                  "are", "as", "with", "his", "they", "I", "at", "be", "this", "have", "from", "or",
                                  "one", "had", "by", "word", "but", "not", "what", "all", "were", "we", "when", "your",
                                  "can", "said", "there", "use", "an", "each", "which", "she", "do", "how", "their",
                                  "tokenizer", "model", "inference", "quantization", "kernel", "throughput", "latency"};
    static const char *code[] = {"int main() {\n", "    return 0;\n", "}\n", "for (size_t i = 0; i < n; ++i) ",
                                 "x[i] += y[i] * alpha;", "def f(a, b):\n", "    print(a + b)\n", "#include <vector>\n",
                                 "if (err != nullptr) { return -1; }", "const auto &v = m.at(\"key\");"};
    static const char *emoji[] = {"😀", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵", "❤️", "🎉", "🚀"};
    std::mt19937 rng(42);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    auto rand_cp_word = [&](uint32_t lo, uint32_t hi, int minlen, int maxlen) {
        std::string w;
        int len = minlen + pick(maxlen - minlen + 1);
        for (int k = 0; k < len; k++) edgellm::unicode::append_utf8(w, lo + rng() % (hi - lo + 1));
        return w;
    };
    std::string s;
    s.reserve(bytes + 256);
    while (s.size() < bytes) {
        int kind = pick(100);
        if (kind < 40) {
            std::string w = words[pick(sizeof words / sizeof *words)];
            if (pick(10) == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
            s += w;
        } else if (kind < 50) {
            s += rand_cp_word('a', 'z', 2, 12);  // unseen Latin words: cache misses
        } else if (kind < 58) {
            s += std::to_string(rng() % 100000);
        } else if (kind < 66) {
            s += code[pick(sizeof code / sizeof *code)];
        } else if (kind < 76) {
            s += rand_cp_word(0x4E00, 0x9FA5, 2, 8);  // CJK
        } else if (kind < 82) {
            s += rand_cp_word(0x0430, 0x044F, 3, 9);  // Cyrillic
        } else if (kind < 87) {
            s += rand_cp_word(0x0628, 0x064A, 3, 8);  // Arabic
        } else if (kind < 92) {
            s += rand_cp_word(0x0915, 0x0939, 2, 6);  // Devanagari
        } else if (kind < 95) {
            s += emoji[pick(sizeof emoji / sizeof *emoji)];
        } else {
            s += ".,;:!?"[pick(6)];
        }
        int sep = pick(20);
        s += sep == 0 ? "\n" : sep == 1 ? "  " : sep == 2 ? "\t" : " ";
    }
    return s;
}

}  // namespace

int main(int argc, char **argv) {
    std::string tok_path;
    if (argc > 1) {
        tok_path = argv[1];
    } else {
        const char *shared = std::getenv("EDGELLM_SHARED_DATA");
        tok_path = std::string(shared ? shared : "../shared/data") + "/tokenizers/llama3";
    }
    std::string text;
    if (argc > 2) {
        std::ifstream f(argv[2], std::ios::binary);
        if (!f) {
            std::fprintf(stderr, "cannot open %s\n", argv[2]);
            return 1;
        }
        std::stringstream ss;
        ss << f.rdbuf();
        text = ss.str();
    } else {
        text = make_text(1 << 20);
    }
    try {
        using clock = std::chrono::steady_clock;
        auto t0 = clock::now();
        edgellm::TokenizerSource src;
        src.hf_dir = tok_path;
        auto tok = edgellm::Tokenizer::create(src);
        double load_s = std::chrono::duration<double>(clock::now() - t0).count();
        std::printf("tokenizer %s: %d tokens, loaded in %.2f s\n", tok_path.c_str(), tok->n_vocab(), load_s);
        std::printf("text: %.2f MB\n", text.size() / 1e6);
        for (const char *pass : {"cold cache", "warm cache"}) {
            auto t1 = clock::now();
            auto ids = tok->encode(text, false, false);
            double s = std::chrono::duration<double>(clock::now() - t1).count();
            std::printf("encode (%s): %.3f s, %.2f MB/s, %.0f tokens/s (%zu tokens)\n", pass, s, text.size() / 1e6 / s,
                        ids.size() / s, ids.size());
            if (pass[0] == 'w') {
                auto t2 = clock::now();
                std::string back = tok->decode(ids.data(), ids.size(), false);
                double ds = std::chrono::duration<double>(clock::now() - t2).count();
                std::printf("decode: %.3f s, %.0f tokens/s, round trip %s\n", ds, ids.size() / ds,
                            back == text ? "exact" : "DIFFERS");
            }
        }
    } catch (const edgellm::Error &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
