// chat.cpp -- an interactive chat loop over edgellm.hpp: keeps the conversation, lets the library
// reuse the already-evaluated prefix each turn (edgellm_chat), streams answers, and handles a full
// context by starting over. Commands: /reset, /quit. Reads stdin, so it can also be scripted.
// Usage: edgellm-cpp-chat MODEL [-b cpu|opencl|auto] [-s SYSTEM] [-n MAX_NEW] [-t TEMP] [-c N_CTX]
#include "edgellm.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <unistd.h>

namespace {

int usage(const char *argv0) {
    std::fprintf(stderr,
                 "usage: %s MODEL [-b cpu|opencl|auto] [-s SYSTEM] [-n MAX_NEW] [-t TEMP] "
                 "[-c N_CTX]\n",
                 argv0);
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) return usage(argv[0]);
    std::string path = argv[1], system_prompt, backend = "auto";
    int max_new = 256;
    float temperature = 0.7f;
    unsigned n_ctx = 0;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) return usage(argv[0]);
        const char *v = argv[++i];
        if (a == "-b") backend = v;
        else if (a == "-s") system_prompt = v;
        else if (a == "-n") max_new = std::atoi(v);
        else if (a == "-t") temperature = std::strtof(v, nullptr);
        else if (a == "-c") n_ctx = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        else return usage(argv[0]);
    }

    try {
        edgellm_model_params mp;
        edgellm_model_params_init(&mp);
        if (backend == "cpu") mp.backend = EDGELLM_BACKEND_CPU;
        else if (backend == "opencl") mp.backend = EDGELLM_BACKEND_OPENCL;
        else if (backend != "auto") return usage(argv[0]);
        edgellm::Model model(path, &mp);
        edgellm_model_info info = model.info();
        std::fprintf(stderr, "%s (%s) on %s, %.0f ms to load\n", info.name, info.architecture,
                     info.device_name, info.load_ms);

        edgellm_session_params sp;
        edgellm_session_params_init(&sp);
        sp.n_ctx = n_ctx;
        edgellm::Session session(model, &sp);
        edgellm::GenerateParams gp;
        gp->max_new_tokens = max_new;
        gp->temperature = temperature;

        std::vector<edgellm::Message> messages;
        auto start_over = [&] {
            messages.clear();
            if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
            session.reset();
        };
        start_over();

        const bool interactive = isatty(STDIN_FILENO);
        std::string line;
        while (true) {
            if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
            if (!std::getline(std::cin, line)) break;
            if (line.empty()) continue;
            if (line == "/quit") break;
            if (line == "/reset") {
                start_over();
                continue;
            }
            messages.push_back({"user", line});
            edgellm::Result r = session.chat(messages, gp, [](std::string_view piece) {
                std::fwrite(piece.data(), 1, piece.size(), stdout);
                std::fflush(stdout);
                return true;
            });
            std::fputc('\n', stdout);
            std::fprintf(stderr, "[%llu tokens, %.1f tok/s, %llu reused]\n",
                         static_cast<unsigned long long>(r.stats.n_generated_tokens),
                         r.stats.decode_tokens_per_second,
                         static_cast<unsigned long long>(r.stats.n_reused_tokens));
            if (r.status == EDGELLM_CONTEXT_FULL) {
                std::fprintf(stderr, "[context full: starting a new conversation]\n");
                start_over();
                continue;
            }
            messages.push_back({"assistant", r.text});
        }
        return 0;
    } catch (const edgellm::Error &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
