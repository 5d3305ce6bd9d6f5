// Benchmark: the time from edgellm_session_cancel (called on another thread) to the running
// edgellm_session_eval (prefill) or edgellm_generate (decode) returning EDGELLM_CANCELLED.
//   edgellm_cancel_latency MODEL.gguf [cpu|opencl|auto] [repeats=20] [n_batch=256] [n_ctx=2048]
// Prefill: a prompt of n_ctx - 8 tokens evaluated in n_batch chunks, cancelled after a random
// delay inside the first half of its run time. Decode: greedy generation with ignore_eos,
// cancelled after a random delay. Prints min / median / max per phase; a cancel is checked
// between prefill chunks and between decode steps, so the bound is one chunk or one token.
#include <edgellm/edgellm.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

static double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

static void report(const char *what, std::vector<double> v, int not_cancelled) {
    if (v.empty()) {
        std::printf("%-8s no cancelled run (%d finished first)\n", what, not_cancelled);
        return;
    }
    std::sort(v.begin(), v.end());
    std::printf("%-8s cancel latency ms: min %.2f  median %.2f  max %.2f  (%zu runs, %d finished before the cancel)\n",
                what, v.front(), v[v.size() / 2], v.back(), v.size(), not_cancelled);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL [cpu|opencl|auto] [repeats] [n_batch] [n_ctx]\n", argv[0]);
        return 2;
    }
    const std::string backend = argc > 2 ? argv[2] : "auto";
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 20;
    const uint32_t n_batch = argc > 4 ? (uint32_t)std::atoi(argv[4]) : 256;
    const uint32_t n_ctx = argc > 5 ? (uint32_t)std::atoi(argv[5]) : 2048;
    if (n_batch < 1 || n_ctx < 32 || repeats < 1) {
        std::fprintf(stderr, "n_batch must be >= 1, n_ctx >= 32, repeats >= 1\n");
        return 2;
    }
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = backend == "cpu" ? EDGELLM_BACKEND_CPU : backend == "opencl" ? EDGELLM_BACKEND_OPENCL : EDGELLM_BACKEND_AUTO;
    edgellm_model *m = nullptr;
    if (edgellm_model_open(argv[1], &mp, &m) != EDGELLM_OK) {
        std::fprintf(stderr, "open: %s\n", edgellm_last_error());
        return 1;
    }
    edgellm_model_info info;
    edgellm_model_info_init(&info);
    edgellm_model_get_info(m, &info);
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    edgellm_session *s = nullptr;
    if (edgellm_session_create(m, &sp, &s) != EDGELLM_OK) {
        std::fprintf(stderr, "session: %s\n", edgellm_last_error());
        return 1;
    }
    std::printf("model %s, backend %s (%s), n_ctx %u, n_batch %u\n", argv[1],
                info.backend == EDGELLM_BACKEND_OPENCL ? "opencl" : "cpu", info.device_name, sp.n_ctx, n_batch);
    std::mt19937 rng(26);
    std::vector<int32_t> prompt(sp.n_ctx - 8);
    for (size_t k = 0; k < prompt.size(); k++) prompt[k] = (int32_t)(100 + rng() % 1000);

    // One uncancelled prefill gives the time the random delays are drawn from.
    auto t0 = Clock::now();
    edgellm_session_eval(s, prompt.data(), prompt.size(), nullptr);
    const double full_ms = ms_between(t0, Clock::now());
    std::printf("full prefill of %zu tokens: %.1f ms (%.2f ms per chunk of %u)\n", prompt.size(), full_ms,
                full_ms * n_batch / prompt.size(), n_batch);

    {
        edgellm_session_reset(s);
        edgellm_generate_params gp;
        edgellm_generate_params_init(&gp);
        gp.temperature = 0;
        gp.ignore_eos = 1;
        gp.max_new_tokens = 32;
        edgellm_stats st;
        edgellm_stats_init(&st);
        edgellm_generate(s, "Once upon a time", &gp, nullptr, nullptr, &st);
        std::printf("decode: %.2f ms per token\n",
                    st.decode_tokens_per_second > 0 ? 1000.0 / st.decode_tokens_per_second : 0.0);
    }

    for (int phase = 0; phase < 2; phase++) {
        std::vector<double> lat;
        int finished = 0;
        for (int r = 0; r < repeats; r++) {
            edgellm_session_reset(s);
            std::atomic<bool> go{false};
            Clock::time_point t_cancel{};
            const double delay_ms = std::uniform_real_distribution<double>(0.05, 0.5)(rng) * (phase == 0 ? full_ms : 200.0);
            std::thread canceller([&] {
                while (!go.load()) std::this_thread::yield();
                std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay_ms));
                t_cancel = Clock::now();
                edgellm_session_cancel(s);
            });
            edgellm_status st;
            go.store(true);
            if (phase == 0) {
                st = edgellm_session_eval(s, prompt.data(), prompt.size(), nullptr);
            } else {
                edgellm_generate_params gp;
                edgellm_generate_params_init(&gp);
                gp.temperature = 0;
                gp.ignore_eos = 1;
                gp.max_new_tokens = (int32_t)sp.n_ctx - 16;
                st = edgellm_generate(s, "Once upon a time", &gp, nullptr, nullptr, nullptr);
            }
            auto t_end = Clock::now();
            canceller.join();
            if (st == EDGELLM_CANCELLED) lat.push_back(ms_between(t_cancel, t_end));
            else finished++;
        }
        report(phase == 0 ? "prefill" : "decode", lat, finished);
    }
    edgellm_session_free(s);
    edgellm_model_close(m);
    return 0;
}
