// Concurrency, leaks and cancellation through the public header only, on the CPU backend with the
// tiny models of tests/data/tiny: several sessions of one model generating in several threads at
// once (each must match a one-thread reference), edgellm_session_cancel from another thread during
// decode and prefill (the call returns EDGELLM_CANCELLED and the session stays usable), and a model
// opened and closed 1,000 times with sessions created and freed (resident memory flat after a
// warm-up). .ci/steps/46-tsan.sh runs this file under ThreadSanitizer; the fuzz build
// (tests/fuzz/CMakeLists.txt) runs it under AddressSanitizer with leak detection.
#include <doctest/doctest.h>
#include <edgellm/edgellm.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

namespace {

std::string tiny(const char *name) {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE_MESSAGE(d != nullptr, "EDGELLM_TEST_DATA is not set (ctest sets it to tests/data)");
    return std::string(d) + "/tiny/" + name;
}

edgellm_model *open_cpu(const std::string &path, int32_t threads) {
    edgellm_model_params p;
    edgellm_model_params_init(&p);
    p.backend = EDGELLM_BACKEND_CPU;
    p.n_threads = threads;
    edgellm_model *m = nullptr;
    edgellm_status st = edgellm_model_open(path.c_str(), &p, &m);
    REQUIRE_MESSAGE(st == EDGELLM_OK, edgellm_last_error());
    return m;
}

edgellm_session *new_session(edgellm_model *m, uint32_t n_ctx, uint32_t n_batch = 0) {
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    edgellm_session *s = nullptr;
    REQUIRE(edgellm_session_create(m, &sp, &s) == EDGELLM_OK);
    return s;
}

edgellm_generate_params greedy(int32_t n) {
    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);
    gp.temperature = 0;
    gp.max_new_tokens = n;
    gp.ignore_eos = 1;
    return gp;
}

int append_cb(const char *piece, size_t len, int32_t, void *ud) {
    static_cast<std::string *>(ud)->append(piece, len);
    return 0;
}

// Greedy text of a fresh session, or the status as text when generation fails.
std::string generate(edgellm_model *m, const char *prompt, int32_t n) {
    edgellm_session *s = new_session(m, 128);
    edgellm_generate_params gp = greedy(n);
    std::string out;
    edgellm_status st = edgellm_generate(s, prompt, &gp, append_cb, &out, nullptr);
    edgellm_session_free(s);
    return st == EDGELLM_OK ? out : "status " + std::to_string((int)st);
}

// Resident set size in bytes (/proc/self/statm).
size_t rss_bytes() {
    std::FILE *f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
    return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

}  // namespace

TEST_CASE("sessions of one model generate in several threads at once, each as one thread alone") {
    edgellm_model *m = open_cpu(tiny("tiny_q4_0.gguf"), 2);
    const char *prompts[3] = {"Once upon a time", "The sea", "1 2 3"};
    std::string ref[3];
    for (int k = 0; k < 3; k++) ref[k] = generate(m, prompts[k], 24);
    for (int k = 0; k < 3; k++) REQUIRE(ref[k].rfind("status", 0) != 0);
    std::vector<std::string> got(8);
    std::vector<std::thread> th;
    for (int t = 0; t < 8; t++)
        th.emplace_back([&, t] {
            std::string all;
            for (int r = 0; r < 2; r++) all += generate(m, prompts[(t + r) % 3], 24) + "|";
            got[t] = all;
        });
    for (auto &t : th) t.join();
    for (int t = 0; t < 8; t++) CHECK(got[t] == ref[t % 3] + "|" + ref[(t + 1) % 3] + "|");
    edgellm_model_close(m);
}

TEST_CASE("edgellm_session_cancel from another thread stops decode and prefill; the session stays usable") {
    edgellm_model *m = open_cpu(tiny("tiny_q4_0.gguf"), 1);
    edgellm_session *s = new_session(m, 256, 4);

    // Decode: the stream callback holds generation at its first piece until the other thread has
    // called cancel; the next token must not be generated.
    struct Hold {
        std::atomic<int> pieces{0};
        std::atomic<bool> cancelled{false};
    } hold;
    auto hold_cb = [](const char *, size_t, int32_t, void *ud) -> int {
        auto *h = static_cast<Hold *>(ud);
        if (h->pieces.fetch_add(1) == 0)
            while (!h->cancelled.load()) std::this_thread::yield();
        return 0;
    };
    std::thread canceller([&] {
        while (hold.pieces.load() == 0) std::this_thread::yield();
        edgellm_session_cancel(s);
        hold.cancelled.store(true);
    });
    edgellm_generate_params gp = greedy(200);
    edgellm_stats st;
    edgellm_stats_init(&st);
    edgellm_status r = edgellm_generate(s, "Once upon a time", &gp, hold_cb, &hold, &st);
    canceller.join();
    CHECK(r == EDGELLM_CANCELLED);
    CHECK(st.stop_reason == EDGELLM_STOP_CANCELLED);
    CHECK(st.n_generated_tokens <= 2);
    CHECK(hold.pieces.load() <= 2);

    // Prefill: a 200-token eval in chunks of 4, cancelled from another thread while it runs. On
    // a fast machine the eval may finish first; either way the status is one of the two and the
    // session is consistent.
    REQUIRE(edgellm_session_reset(s) == EDGELLM_OK);
    std::vector<int32_t> toks(200);
    for (size_t k = 0; k < toks.size(); k++) toks[k] = static_cast<int32_t>(3 + k % 50);
    std::atomic<bool> started{false};
    std::thread c2([&] {
        while (!started.load()) std::this_thread::yield();
        edgellm_session_cancel(s);
    });
    started.store(true);
    r = edgellm_session_eval(s, toks.data(), toks.size(), nullptr);
    c2.join();
    CHECK((r == EDGELLM_CANCELLED || r == EDGELLM_OK));
    CHECK(edgellm_session_n_tokens(s) <= toks.size());

    // The session works afterwards and matches a fresh one.
    REQUIRE(edgellm_session_reset(s) == EDGELLM_OK);
    std::string out;
    gp = greedy(12);
    CHECK(edgellm_generate(s, "The sea", &gp, append_cb, &out, nullptr) == EDGELLM_OK);
    CHECK(out == generate(m, "The sea", 12));
    edgellm_session_free(s);
    edgellm_model_close(m);
}

TEST_CASE("1,000 model opens and closes with sessions: resident memory flat after warm-up") {
    const std::string gguf = tiny("tiny_q4_0.gguf"), hf = tiny("hf_f16_tied");
    size_t rss_warm = 0;
    const int n = 1000, warm = 100;
    for (int k = 0; k < n; k++) {
        edgellm_model *m = open_cpu(k % 2 ? hf : gguf, 1);
        edgellm_session *s = new_session(m, 32);
        int32_t tok = 1;
        CHECK(edgellm_session_eval(s, &tok, 1, nullptr) == EDGELLM_OK);
        edgellm_session *s2 = new_session(m, 16);
        edgellm_session_free(s);
        edgellm_session_free(s2);
        edgellm_model_close(m);
        if (k + 1 == warm) rss_warm = rss_bytes();
    }
    size_t rss_end = rss_bytes();
    MESSAGE("RSS after " << warm << " open/close cycles: " << rss_warm / 1024 << " KiB; after " << n << ": "
                         << rss_end / 1024 << " KiB");
    // Sanitizer allocators keep freed memory in quarantine: the leak check there is LeakSanitizer's.
    if (!kSanitized) CHECK(rss_end <= rss_warm + 2 * 1024 * 1024);
}
