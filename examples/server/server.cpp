// server.cpp -- edgellm-server: an OpenAI-compatible HTTP server over the libedgellm C ABI for
// kiosks and robots. One model, --parallel sessions (each reused for the longest common prompt
// prefix), a bounded wait queue (503 when full), POST /v1/chat/completions and /v1/completions with
// or without server-sent events, GET /v1/models, GET /health and a kiosk chat page at GET /.
// HTTP is cpp-httplib (Debian's libcpp-httplib-dev); request bodies are parsed with simdjson.
#include "../service/json_out.hpp"  // json::append_string: escaping with invalid UTF-8 replaced
#include "completion.hpp"
#include "openai_request.hpp"
#include "session_pool.hpp"

#include <httplib.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

extern const char *const edgellm_server_kiosk_html;  // kiosk.html, embedded at build time

namespace {

struct Options {
    std::string model_path;
    std::string host = "127.0.0.1";
    int port = 8080;
    edgellm_backend backend = EDGELLM_BACKEND_AUTO;
    edgellm_weights weights = EDGELLM_WEIGHTS_AUTO;
    uint32_t ctx = 0;
    int parallel = 1;
    int queue = 8;
    int threads = 0;
    std::string name;  // the model id in /v1/models and responses; default: the file name
    bool ui = true;
    std::string cors_origin;
    bool verbose = false;
};

void usage(FILE *out) {
    std::fprintf(out,
        "usage: edgellm-server -m MODEL [options]\n"
        "  -m, --model PATH       GGUF file or Hugging Face directory (required)\n"
        "      --host ADDR        address to listen on (default 127.0.0.1)\n"
        "      --port N           port (default 8080; 0 picks a free one, printed at start)\n"
        "      --backend B        auto|cpu|opencl (default auto)\n"
        "      --weights W        auto|f32|f16|q8_0|q4 (default auto)\n"
        "      --ctx N            KV-cache positions per session (default min(model, 4096))\n"
        "      --parallel N       sessions generating at the same time, 1-64 (default 1)\n"
        "      --queue N          requests that may wait for a session, 0-256; more get 503 (default 8)\n"
        "      --threads N        CPU threads (default: all cores)\n"
        "      --name NAME        model id reported by /v1/models (default: the file name)\n"
        "      --cors-origin O    send Access-Control-Allow-Origin: O (e.g. '*'; default none)\n"
        "      --no-ui            do not serve the kiosk page at /\n"
        "  -v, --verbose          log the library's info messages\n");
}

bool parse_int(const char *s, long lo, long hi, long &out) {
    char *end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    out = v;
    return true;
}

// Returns 0 to run, else the exit code (1 bad usage, 0 after --help).
int parse_args(int argc, char **argv, Options &o, bool &exit_now) {
    exit_now = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "edgellm-server: %s needs a value\n", a.c_str());
                return nullptr;
            }
            return argv[++i];
        };
        auto number = [&](long lo, long hi, long &out) {
            const char *v = value();
            if (!v) return false;
            if (!parse_int(v, lo, hi, out)) {
                std::fprintf(stderr, "edgellm-server: %s wants an integer in [%ld, %ld]\n", a.c_str(), lo, hi);
                return false;
            }
            return true;
        };
        long n = 0;
        const char *v = nullptr;
        if (a == "-h" || a == "--help") {
            usage(stdout);
            exit_now = true;
            return 0;
        } else if (a == "-m" || a == "--model") {
            if (!(v = value())) return 1;
            o.model_path = v;
        } else if (a == "--host") {
            if (!(v = value())) return 1;
            o.host = v;
        } else if (a == "--port") {
            if (!number(0, 65535, n)) return 1;
            o.port = (int)n;
        } else if (a == "--backend") {
            if (!(v = value())) return 1;
            std::string b = v;
            if (b == "auto") o.backend = EDGELLM_BACKEND_AUTO;
            else if (b == "cpu") o.backend = EDGELLM_BACKEND_CPU;
            else if (b == "opencl") o.backend = EDGELLM_BACKEND_OPENCL;
            else {
                std::fprintf(stderr, "edgellm-server: --backend is auto, cpu or opencl\n");
                return 1;
            }
        } else if (a == "--weights") {
            if (!(v = value())) return 1;
            std::string w = v;
            if (w == "auto") o.weights = EDGELLM_WEIGHTS_AUTO;
            else if (w == "f32") o.weights = EDGELLM_WEIGHTS_F32;
            else if (w == "f16") o.weights = EDGELLM_WEIGHTS_F16;
            else if (w == "q8_0") o.weights = EDGELLM_WEIGHTS_Q8_0;
            else if (w == "q4") o.weights = EDGELLM_WEIGHTS_Q4;
            else {
                std::fprintf(stderr, "edgellm-server: --weights is auto, f32, f16, q8_0 or q4\n");
                return 1;
            }
        } else if (a == "--ctx" || a == "-c") {
            if (!number(0, 1 << 24, n)) return 1;
            o.ctx = (uint32_t)n;
        } else if (a == "--parallel" || a == "-np") {
            if (!number(1, 64, n)) return 1;
            o.parallel = (int)n;
        } else if (a == "--queue") {
            if (!number(0, 256, n)) return 1;
            o.queue = (int)n;
        } else if (a == "--threads" || a == "-t") {
            if (!number(0, 1024, n)) return 1;
            o.threads = (int)n;
        } else if (a == "--name") {
            if (!(v = value())) return 1;
            o.name = v;
        } else if (a == "--cors-origin") {
            if (!(v = value())) return 1;
            o.cors_origin = v;
        } else if (a == "--no-ui") {
            o.ui = false;
        } else if (a == "-v" || a == "--verbose") {
            o.verbose = true;
        } else {
            std::fprintf(stderr, "edgellm-server: unknown option %s\n", a.c_str());
            usage(stderr);
            return 1;
        }
    }
    if (o.model_path.empty()) {
        usage(stderr);
        return 1;
    }
    return 0;
}

void on_log(int32_t level, const char *msg, void *ud) {
    const bool verbose = *static_cast<const bool *>(ud);
    if (level <= EDGELLM_LOG_WARN || verbose) std::fprintf(stderr, "edgellm: %s\n", msg);
}

std::string base_name(const std::string &path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

void send_json(httplib::Response &res, int status, const std::string &body) {
    res.status = status;
    res.set_content(body, "application/json");
}

}  // namespace

int main(int argc, char **argv) {
    Options opt;
    bool exit_now = false;
    if (int rc = parse_args(argc, argv, opt, exit_now); rc != 0 || exit_now) return rc;
    if (opt.name.empty()) opt.name = base_name(opt.model_path);

    // SIGINT / SIGTERM stop the server from a thread of their own (svr.stop() is not
    // async-signal-safe); SIGPIPE is ignored so that a client that went away is a failed write.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    edgellm_set_log_callback(on_log, &opt.verbose, EDGELLM_LOG_DEBUG);
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = opt.backend;
    mp.weights = opt.weights;
    mp.n_threads = opt.threads;
    edgellm_model *model = nullptr;
    if (edgellm_model_open(opt.model_path.c_str(), &mp, &model) != EDGELLM_OK) {
        std::fprintf(stderr, "edgellm-server: cannot open %s: %s\n", opt.model_path.c_str(), edgellm_last_error());
        return 1;
    }
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    sp.n_ctx = opt.ctx;
    std::unique_ptr<SessionPool> pool;
    try {
        pool = std::make_unique<SessionPool>(model, sp, opt.parallel, opt.queue);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "edgellm-server: %s\n", e.what());
        edgellm_model_close(model);
        return 1;
    }
    edgellm_model_info info;
    edgellm_model_info_init(&info);
    edgellm_model_get_info(model, &info);

    Completions completions(model, *pool, opt.name);
    httplib::Server svr;
    // cpp-httplib gives each connection a worker thread for as long as it is kept alive, and an
    // admitted request holds its thread while it waits or generates. Twice parallel + queue, plus
    // 8, leaves threads for idle keep-alive connections and for /health, /v1/models and 503s.
    const size_t n_workers = 2 * (size_t)(opt.parallel + opt.queue) + 8;
    svr.new_task_queue = [n_workers] { return new httplib::ThreadPool(n_workers); };
    svr.set_payload_max_length(16u << 20);
    const auto t_start = std::time(nullptr);

    if (!opt.cors_origin.empty()) {
        svr.set_default_headers({{"Access-Control-Allow-Origin", opt.cors_origin},
                                 {"Access-Control-Allow-Headers", "Content-Type, Authorization"},
                                 {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"}});
        svr.Options(R"(/.*)", [](const httplib::Request &, httplib::Response &res) { res.status = 204; });
    }
    if (opt.ui)
        svr.Get("/", [](const httplib::Request &, httplib::Response &res) {
            res.set_content(edgellm_server_kiosk_html, "text/html; charset=utf-8");
        });
    svr.Get("/health", [&](const httplib::Request &, httplib::Response &res) {
        SessionPool::Counts c = pool->counts();
        send_json(res, 200, "{\"status\":\"ok\",\"slots_idle\":" + std::to_string(c.idle) +
                                ",\"slots_processing\":" + std::to_string(c.busy) +
                                ",\"requests_waiting\":" + std::to_string(c.waiting) + "}");
    });
    svr.Get("/v1/models", [&](const httplib::Request &, httplib::Response &res) {
        std::string body = "{\"object\":\"list\",\"data\":[{\"id\":";
        json::append_string(body, opt.name);
        body += ",\"object\":\"model\",\"created\":" + std::to_string((long long)t_start) +
                ",\"owned_by\":\"edgellm\",\"meta\":{\"architecture\":";
        json::append_string(body, info.architecture ? info.architecture : "");
        body += ",\"n_ctx\":" + std::to_string(pool->n_ctx()) + ",\"n_params\":" + std::to_string(info.n_params) +
                ",\"backend\":\"" + (info.backend == EDGELLM_BACKEND_OPENCL ? "opencl" : "cpu") + "\"}}]}";
        send_json(res, 200, body);
    });
    svr.Post("/v1/chat/completions", [&](const httplib::Request &req, httplib::Response &res) {
        completions.handle(req, res, true);
    });
    svr.Post("/v1/completions", [&](const httplib::Request &req, httplib::Response &res) {
        completions.handle(req, res, false);
    });
    svr.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request &req, httplib::Response &res) -> httplib::Server::HandlerResponse {
        if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
        std::string what = res.status == 404 ? "no route for " + req.method + " " + req.path
                                             : "HTTP error " + std::to_string(res.status);
        res.set_content(error_body(ApiError{res.status, what, "invalid_request_error", "", ""}), "application/json");
        return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler([](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception &e) {
            what = e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(error_body(ApiError{500, what, "server_error", "", ""}), "application/json");
    });

    int port = opt.port;
    if (port == 0) {
        port = svr.bind_to_any_port(opt.host);
        if (port < 0) port = -1;
    } else if (!svr.bind_to_port(opt.host, port)) {
        port = -1;
    }
    if (port < 0) {
        std::fprintf(stderr, "edgellm-server: cannot listen on %s:%d\n", opt.host.c_str(), opt.port);
        pool.reset();
        edgellm_model_close(model);
        return 1;
    }
    std::atomic<bool> stopping{false};
    std::thread signal_thread([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        if (stopping.exchange(true)) return;
        std::fprintf(stderr, "edgellm-server: signal %d, stopping\n", sig);
        pool->shutdown();
        svr.stop();
    });
    std::fprintf(stderr, "edgellm-server: %s (%s, %s), %d session(s) of %zu tokens, queue %d\n", opt.name.c_str(),
                 info.architecture ? info.architecture : "?", info.backend == EDGELLM_BACKEND_OPENCL ? "opencl" : "cpu",
                 opt.parallel, pool->n_ctx(), opt.queue);
    std::fprintf(stderr, "edgellm-server: listening on http://%s:%d\n", opt.host.c_str(), port);
    std::fflush(stderr);
    bool ok = svr.listen_after_bind();
    // When the server stopped on its own, wake the signal thread (the signal is blocked on every
    // thread, so only its sigwait receives it).
    if (!stopping.exchange(true)) pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    pool.reset();
    edgellm_model_close(model);
    return ok ? 0 : 1;
}
