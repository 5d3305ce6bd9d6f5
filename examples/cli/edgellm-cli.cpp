// edgellm-cli: stream an answer from a model (GGUF file or Hugging Face directory), or chat with
// it using the model's own template. Uses only the public C ABI.
#include <edgellm/edgellm.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

void usage(FILE *f) {
    std::fprintf(f,
        "usage: edgellm-cli -m MODEL [-p PROMPT | -f FILE | --chat] [options]\n"
        "\n"
        "  -m, --model PATH        GGUF file or Hugging Face model directory\n"
        "  -p, --prompt TEXT       prompt; with --raw it is sent as is, otherwise it is the user\n"
        "                          message of a one-turn chat rendered with the model's template\n"
        "  -f, --file PATH         read the prompt from a file\n"
        "      --raw               no chat template: complete the prompt text\n"
        "  -i, --chat              interactive chat (history kept, KV cache reused across turns)\n"
        "  -s, --system TEXT       system message for chat\n"
        "  -n, --n-predict N       max new tokens (default 256; -1 = until EOS/context full)\n"
        "      --temp T            temperature (default 0.7; 0 = greedy)\n"
        "      --top-k K           (default 40)     --top-p P  (default 0.95)\n"
        "      --min-p P           (default 0.05)   --repeat-penalty R (default 1.0)\n"
        "      --frequency-penalty F  --presence-penalty P  --repeat-last-n N (default 64)\n"
        "      --seed S            RNG seed (default random)\n"
        "      --stop TEXT         stop string (repeatable)\n"
        "      --ignore-eos        keep generating past end-of-generation tokens\n"
        "  -c, --ctx N             context size of the session (default min(model, 4096))\n"
        "  -b, --batch N           prompt tokens per forward pass (default 256)\n"
        "  -t, --threads N         CPU threads (default all cores)\n"
        "      --backend B         auto | cpu | reference | opencl (default auto; cpu is the fast\n"
        "                          CPU backend, reference the scalar one it is tested against)\n"
        "      --affinity LIST     CPUs for the fast CPU backend's worker threads, e.g. 4-7 (the\n"
        "                          RK3588's A76 cores; sets EDGELLM_CPU_AFFINITY)\n"
        "      --device D          OpenCL device index (see --list-devices)\n"
        "      --weights W         auto | f32 | f16 | q8_0 | q4 (default auto)\n"
        "      --list-devices      list OpenCL devices and exit\n"
        "  -v, --verbose           log loading details to stderr\n"
        "      --no-progress       no progress bar while loading\n"
        "      --version           print the library version\n"
        "  -h, --help              this help\n");
}

int on_piece(const char *piece, size_t len, int32_t, void *ud) {
    std::fwrite(piece, 1, len, stdout);
    std::fflush(stdout);
    if (ud) static_cast<std::string *>(ud)->append(piece, len);
    return 0;
}

int on_progress(float p, void *) {
    // Redraw only when the shown percentage changes, and only on a terminal.
    static int last = -1;
    int pct = (int)(p * 100 + 0.5f);
    if (pct == last || !isatty(2)) return 0;
    last = pct;
    int width = 40, fill = pct * width / 100;
    std::fprintf(stderr, "\rloading [%.*s%*s] %3d%%", fill, "########################################",
                 width - fill, "", pct);
    if (pct >= 100) std::fprintf(stderr, "\r%*s\r", width + 20, "");
    std::fflush(stderr);
    return 0;
}

void on_log(int32_t level, const char *msg, void *) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    std::fprintf(stderr, "[%s] %s\n", level >= 0 && level <= 3 ? names[level] : "log", msg);
}

void print_stats(const edgellm_stats &st, const edgellm_model_info &info) {
    std::fprintf(stderr,
                 "\n\n--- %s on %s\n"
                 "prompt:  %llu tokens in %.1f ms (%.2f tok/s)%s\n"
                 "decode:  %llu tokens in %.1f ms (%.2f tok/s)\n"
                 "first token after %.1f ms; load %.0f ms; weights %.1f MB; peak RSS %.1f MB\n",
                 info.name && *info.name ? info.name : info.architecture, info.device_name,
                 (unsigned long long)st.n_prompt_tokens, st.prefill_ms, st.prefill_tokens_per_second,
                 st.n_reused_tokens ? (" (+" + std::to_string(st.n_reused_tokens) + " reused)").c_str() : "",
                 (unsigned long long)st.n_generated_tokens, st.decode_ms, st.decode_tokens_per_second,
                 st.time_to_first_token_ms, st.load_ms, st.weight_bytes / 1e6, st.peak_memory_bytes / 1e6);
}

bool read_file(const char *path, std::string &out) {
    FILE *f = std::fopen(path, "rb");
    if (!f) return false;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
    return true;
}

int fail(const char *what, edgellm_status s) {
    std::fprintf(stderr, "error: %s: %s (%s)\n", what, edgellm_status_string(s), edgellm_last_error());
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    std::string model_path, prompt, system_msg;
    bool chat = false, raw = false, verbose = false, progress = true, list_devices = false;
    std::vector<std::string> stops;
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);

    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&](const char *name) -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "error: %s needs a value\n", name);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "-h" || a == "--help") { usage(stdout); return 0; }
        else if (a == "--version") { std::printf("edgellm %s\n", edgellm_version()); return 0; }
        else if (a == "-m" || a == "--model") model_path = next("-m");
        else if (a == "-p" || a == "--prompt") prompt = next("-p");
        else if (a == "-f" || a == "--file") {
            const char *p = next("-f");
            if (!read_file(p, prompt)) { std::fprintf(stderr, "error: cannot read %s\n", p); return 2; }
        }
        else if (a == "--raw") raw = true;
        else if (a == "-i" || a == "--chat") chat = true;
        else if (a == "-s" || a == "--system") system_msg = next("-s");
        else if (a == "-n" || a == "--n-predict") gp.max_new_tokens = std::atoi(next("-n"));
        else if (a == "--temp") gp.temperature = (float)std::atof(next("--temp"));
        else if (a == "--top-k") gp.top_k = std::atoi(next("--top-k"));
        else if (a == "--top-p") gp.top_p = (float)std::atof(next("--top-p"));
        else if (a == "--min-p") gp.min_p = (float)std::atof(next("--min-p"));
        else if (a == "--repeat-penalty") gp.repetition_penalty = (float)std::atof(next("--repeat-penalty"));
        else if (a == "--frequency-penalty") gp.frequency_penalty = (float)std::atof(next("--frequency-penalty"));
        else if (a == "--presence-penalty") gp.presence_penalty = (float)std::atof(next("--presence-penalty"));
        else if (a == "--repeat-last-n") gp.penalty_last_n = std::atoi(next("--repeat-last-n"));
        else if (a == "--seed") gp.seed = std::strtoull(next("--seed"), nullptr, 10);
        else if (a == "--stop") stops.push_back(next("--stop"));
        else if (a == "--ignore-eos") gp.ignore_eos = 1;
        else if (a == "-c" || a == "--ctx") sp.n_ctx = (uint32_t)std::atoi(next("-c"));
        else if (a == "-b" || a == "--batch") sp.n_batch = (uint32_t)std::atoi(next("-b"));
        else if (a == "-t" || a == "--threads") mp.n_threads = std::atoi(next("-t"));
        else if (a == "--affinity") setenv("EDGELLM_CPU_AFFINITY", next("--affinity"), 1);
        else if (a == "--device") mp.device_index = std::atoi(next("--device"));
        else if (a == "--backend") {
            std::string b = next("--backend");
            if (b == "auto") mp.backend = EDGELLM_BACKEND_AUTO;
            else if (b == "cpu") mp.backend = EDGELLM_BACKEND_CPU;
            else if (b == "reference") mp.backend = EDGELLM_BACKEND_CPU_REFERENCE;
            else if (b == "opencl") mp.backend = EDGELLM_BACKEND_OPENCL;
            else { std::fprintf(stderr, "error: unknown backend %s\n", b.c_str()); return 2; }
        } else if (a == "--weights") {
            std::string w = next("--weights");
            if (w == "auto") mp.weights = EDGELLM_WEIGHTS_AUTO;
            else if (w == "f32") mp.weights = EDGELLM_WEIGHTS_F32;
            else if (w == "f16") mp.weights = EDGELLM_WEIGHTS_F16;
            else if (w == "q8_0") mp.weights = EDGELLM_WEIGHTS_Q8_0;
            else if (w == "q4") mp.weights = EDGELLM_WEIGHTS_Q4;
            else { std::fprintf(stderr, "error: unknown weights %s\n", w.c_str()); return 2; }
        }
        else if (a == "--list-devices") list_devices = true;
        else if (a == "-v" || a == "--verbose") verbose = true;
        else if (a == "--no-progress") progress = false;
        else { std::fprintf(stderr, "error: unknown argument %s (see --help)\n", a.c_str()); return 2; }
    }

    if (list_devices) {
        size_t n = 0;
        edgellm_status s = edgellm_device_count(&n);
        if (s != EDGELLM_OK) return fail("device count", s);
        if (n == 0) std::printf("no OpenCL devices\n");
        for (size_t i = 0; i < n; ++i) {
            edgellm_device_info d;
            edgellm_device_info_init(&d);
            if ((s = edgellm_device_get_info(i, &d)) != EDGELLM_OK) return fail("device info", s);
            std::printf("%zu: %s (%s, %s) %s, %u CUs, %.1f GiB, fp16 %s, unified memory %s\n", i, d.name,
                        d.vendor, d.driver_version, d.is_gpu ? "GPU" : "non-GPU", d.compute_units,
                        d.global_mem_bytes / 1073741824.0, d.has_fp16 ? "yes" : "no",
                        d.unified_memory ? "yes" : "no");
        }
        return 0;
    }
    if (model_path.empty()) { usage(stderr); return 2; }
    if (!chat && prompt.empty()) { std::fprintf(stderr, "error: give -p PROMPT, -f FILE or --chat\n"); return 2; }

    std::vector<const char *> stop_ptrs;
    for (auto &s : stops) stop_ptrs.push_back(s.c_str());
    gp.stop = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
    gp.n_stop = stop_ptrs.size();
    if (progress) mp.progress_callback = on_progress;
    mp.log_callback = on_log;
    mp.log_level = verbose ? EDGELLM_LOG_DEBUG : EDGELLM_LOG_WARN;

    edgellm_model *model = nullptr;
    edgellm_status s = edgellm_model_open(model_path.c_str(), &mp, &model);
    if (s != EDGELLM_OK) return fail("cannot open model", s);
    edgellm_model_info info;
    edgellm_model_info_init(&info);
    edgellm_model_get_info(model, &info);
    if (info.backend_note && *info.backend_note) std::fprintf(stderr, "note: %s\n", info.backend_note);
    edgellm_session *session = nullptr;
    if ((s = edgellm_session_create(model, &sp, &session)) != EDGELLM_OK) {
        edgellm_model_close(model);
        return fail("cannot create session", s);
    }
    edgellm_stats st;
    edgellm_stats_init(&st);
    int rc = 0;

    if (!chat) {
        if (raw) {
            std::printf("%s", prompt.c_str());
            s = edgellm_generate(session, prompt.c_str(), &gp, on_piece, nullptr, &st);
        } else {
            std::vector<edgellm_chat_message> msgs;
            if (!system_msg.empty()) msgs.push_back({"system", system_msg.c_str()});
            msgs.push_back({"user", prompt.c_str()});
            s = edgellm_chat(session, msgs.data(), msgs.size(), &gp, on_piece, nullptr, &st);
        }
        if (s != EDGELLM_OK && s != EDGELLM_CONTEXT_FULL) rc = fail("generation failed", s);
        else print_stats(st, info);
    } else {
        std::vector<std::pair<std::string, std::string>> history;
        if (!system_msg.empty()) history.push_back({"system", system_msg});
        std::string line;
        std::fprintf(stderr, "chat with %s — empty line or Ctrl-D ends, /reset forgets\n", model_path.c_str());
        while (true) {
            std::fprintf(stderr, "\n> ");
            if (!std::getline(std::cin, line) || line.empty()) break;
            if (line == "/reset") {
                history.erase(history.begin() + (system_msg.empty() ? 0 : 1), history.end());
                edgellm_session_reset(session);
                continue;
            }
            history.push_back({"user", line});
            std::vector<edgellm_chat_message> msgs;
            for (auto &m : history) msgs.push_back({m.first.c_str(), m.second.c_str()});
            std::string answer;
            edgellm_stats_init(&st);
            s = edgellm_chat(session, msgs.data(), msgs.size(), &gp, on_piece, &answer, &st);
            if (s == EDGELLM_CONTEXT_FULL) {
                std::fprintf(stderr, "\n[context full: starting over]\n");
                history.erase(history.begin() + (system_msg.empty() ? 0 : 1), history.end());
                edgellm_session_reset(session);
                continue;
            }
            if (s != EDGELLM_OK) { rc = fail("generation failed", s); break; }
            history.push_back({"assistant", answer});
            print_stats(st, info);
        }
    }
    edgellm_session_free(session);
    edgellm_model_close(model);
    return rc;
}
