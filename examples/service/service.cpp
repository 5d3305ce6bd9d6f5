// service.cpp -- a long-running kiosk/robot LLM service over the libedgellm C ABI. It keeps one
// model loaded and answers requests read line by line from stdin, one JSON object per line:
//   {"id": ..., "prompt": "..." | "messages": [{"role","content"},...], <sampling>, "timeout_ms": N}
// and writes JSON lines to stdout: {"id","piece"} for each piece of text, then
// {"id","done":true,"stop_reason","stats"} or {"id","error":{"code","message"}[,"stats"]}.
// A watchdog thread cancels a request that exceeds its time budget; a bad request (malformed JSON,
// unknown or mistyped fields) gets an error line and the service goes on serving.
#include "../cpp/edgellm.hpp"
#include "json_out.hpp"

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// A request that could not be served; `code` is a short machine-readable reason.
struct BadRequest {
    std::string code;
    std::string message;
};

struct Request {
    std::string id_json = "null"; // the request's id, re-serialized, echoed in every reply
    std::optional<std::string> prompt;
    std::vector<edgellm::Message> messages;
    bool has_messages = false;
    edgellm::GenerateParams params;
    int64_t timeout_ms = 0; // 0 = no time budget
};

// Cancels the running request on a session when its deadline passes. One watchdog thread for the
// whole service; arm() before a request, disarm() after it.
class Watchdog {
public:
    explicit Watchdog(edgellm_session *session) : session_(session), thread_([this] { loop(); }) {}
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            quit_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void arm(Clock::time_point deadline) {
        std::lock_guard<std::mutex> lock(mutex_);
        deadline_ = deadline;
        armed_ = true;
        fired_ = false;
        cv_.notify_all();
    }
    void disarm() {
        std::lock_guard<std::mutex> lock(mutex_);
        armed_ = false;
        cv_.notify_all();
    }
    bool fired() const { return fired_.load(); }

private:
    void loop() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!quit_) {
            if (!armed_) {
                cv_.wait(lock);
                continue;
            }
            if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
                Clock::now() >= deadline_) {
                fired_ = true;
                armed_ = false;
                edgellm_session_cancel(session_); // thread-safe by the C ABI's contract
            }
        }
    }

    edgellm_session *session_;
    std::mutex mutex_;
    std::condition_variable cv_;
    Clock::time_point deadline_{};
    bool armed_ = false;
    bool quit_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

// ---- request parsing (simdjson DOM, error codes, no exceptions) -------------------------------

double get_number(simdjson::dom::element v, std::string_view key) {
    double d;
    if (v.get_double().get(d)) throw BadRequest{"bad_field", std::string(key) + " must be a number"};
    return d;
}

int64_t get_integer(simdjson::dom::element v, std::string_view key, int64_t lo, int64_t hi) {
    int64_t i;
    if (v.get_int64().get(i) || i < lo || i > hi)
        throw BadRequest{"bad_field", std::string(key) + " must be an integer in [" +
                                          std::to_string(lo) + ", " + std::to_string(hi) + "]"};
    return i;
}

std::string get_string(simdjson::dom::element v, std::string_view key) {
    std::string_view s;
    if (v.get_string().get(s)) throw BadRequest{"bad_field", std::string(key) + " must be a string"};
    if (s.find('\0') != std::string_view::npos)
        throw BadRequest{"bad_field", std::string(key) + " must not contain NUL"};
    return std::string(s);
}

void parse_messages(simdjson::dom::element v, Request &req) {
    simdjson::dom::array arr;
    if (v.get_array().get(arr)) throw BadRequest{"bad_field", "messages must be an array"};
    for (simdjson::dom::element m : arr) {
        simdjson::dom::object obj;
        if (m.get_object().get(obj))
            throw BadRequest{"bad_field", "each message must be an object {role, content}"};
        edgellm::Message msg;
        bool has_role = false, has_content = false;
        for (auto field : obj) {
            if (field.key == "role") msg.role = get_string(field.value, "role"), has_role = true;
            else if (field.key == "content")
                msg.content = get_string(field.value, "content"), has_content = true;
            else throw BadRequest{"bad_field", "unknown message field '" + std::string(field.key) + "'"};
        }
        if (!has_role || !has_content)
            throw BadRequest{"bad_field", "each message needs a role and a content"};
        req.messages.push_back(std::move(msg));
    }
    if (req.messages.empty()) throw BadRequest{"bad_field", "messages must not be empty"};
    req.has_messages = true;
}

// Fills `req` from the object; the id is taken first so that errors can name the request.
void parse_request(simdjson::dom::object obj, Request &req) {
    simdjson::dom::element id;
    if (!obj["id"].get(id)) {
        if (!id.is_string() && !id.is_number())
            throw BadRequest{"bad_field", "id must be a string or a number"};
        req.id_json = simdjson::to_string(id);
    }
    for (auto field : obj) {
        std::string_view key = field.key;
        simdjson::dom::element v = field.value;
        auto &p = req.params;
        if (key == "id") continue;
        else if (key == "prompt") req.prompt = get_string(v, key);
        else if (key == "messages") parse_messages(v, req);
        else if (key == "max_new_tokens") p->max_new_tokens = int32_t(get_integer(v, key, -1, 1 << 30));
        else if (key == "temperature") p->temperature = float(get_number(v, key));
        else if (key == "top_k") p->top_k = int32_t(get_integer(v, key, 0, 1 << 30));
        else if (key == "top_p") p->top_p = float(get_number(v, key));
        else if (key == "min_p") p->min_p = float(get_number(v, key));
        else if (key == "repetition_penalty") p->repetition_penalty = float(get_number(v, key));
        else if (key == "frequency_penalty") p->frequency_penalty = float(get_number(v, key));
        else if (key == "presence_penalty") p->presence_penalty = float(get_number(v, key));
        else if (key == "penalty_last_n") p->penalty_last_n = int32_t(get_integer(v, key, -1, 1 << 30));
        else if (key == "seed") p->seed = uint64_t(get_integer(v, key, 0, INT64_MAX));
        else if (key == "timeout_ms") req.timeout_ms = get_integer(v, key, 0, 86400000);
        else if (key == "ignore_eos") {
            bool b;
            if (v.get_bool().get(b)) throw BadRequest{"bad_field", "ignore_eos must be a boolean"};
            p->ignore_eos = b ? 1 : 0;
        } else if (key == "stop") {
            if (v.is_string()) {
                req.params.add_stop(get_string(v, key));
            } else {
                simdjson::dom::array arr;
                if (v.get_array().get(arr))
                    throw BadRequest{"bad_field", "stop must be a string or an array of strings"};
                for (simdjson::dom::element s : arr) req.params.add_stop(get_string(s, "stop"));
            }
        } else {
            throw BadRequest{"bad_field", "unknown field '" + std::string(key) + "'"};
        }
    }
    if (req.prompt.has_value() == req.has_messages)
        throw BadRequest{"bad_request", "give exactly one of prompt and messages"};
}

// ---- serving -------------------------------------------------------------------------------

struct Service {
    edgellm::Model &model;
    edgellm::Session &session;
    Watchdog &watchdog;
    int64_t default_timeout_ms;
    simdjson::dom::parser parser{};

    void serve_line(const std::string &line) {
        Request req;
        try {
            simdjson::dom::element doc;
            if (auto err = parser.parse(line).get(doc))
                throw BadRequest{"invalid_json", simdjson::error_message(err)};
            simdjson::dom::object obj;
            if (doc.get_object().get(obj))
                throw BadRequest{"bad_request", "a request must be a JSON object"};
            parse_request(obj, req);
            run(req);
        } catch (const BadRequest &e) {
            json::emit_error(req.id_json, e.code, e.message, nullptr);
        } catch (const edgellm::Error &e) {
            // code: the status text in snake case ("invalid argument" -> "invalid_argument")
            std::string code = edgellm_status_string(e.status());
            for (char &c : code)
                if (c == ' ' || c == '-') c = '_';
            json::emit_error(req.id_json, code, e.what(), nullptr);
        } catch (const std::exception &e) {
            json::emit_error(req.id_json, "internal", e.what(), nullptr);
        }
    }

    void run(Request &req) {
        int64_t timeout = req.timeout_ms > 0 ? req.timeout_ms : default_timeout_ms;
        std::optional<Clock::time_point> deadline;
        if (timeout > 0) deadline = Clock::now() + std::chrono::milliseconds(timeout);
        // The callback checks the deadline itself too, so a budget also holds between the
        // watchdog's wake-ups; the watchdog covers long prefills without callbacks.
        bool late = false;
        auto on_piece = [&](std::string_view piece) {
            json::emit_piece(req.id_json, piece);
            if (deadline && Clock::now() >= *deadline) {
                late = true;
                return false;
            }
            return true;
        };
        if (deadline) watchdog.arm(*deadline);
        edgellm::Result r;
        try {
            if (req.has_messages) {
                r = session.chat(req.messages, req.params, on_piece);
            } else {
                session.reset(); // a prompt request is independent of what came before
                r = session.generate(*req.prompt, req.params, on_piece);
            }
        } catch (...) {
            watchdog.disarm();
            throw;
        }
        watchdog.disarm();
        if (r.status == EDGELLM_CANCELLED && (late || watchdog.fired())) {
            json::emit_error(req.id_json, "timeout",
                             "request exceeded its time budget of " + std::to_string(timeout) +
                                 " ms",
                             &r.stats);
            return;
        }
        json::emit_done(req.id_json, r.stats);
    }
};

int usage(const char *argv0) {
    std::fprintf(stderr, "usage: %s MODEL [-b cpu|reference|opencl|auto] [-c N_CTX] [-T DEFAULT_TIMEOUT_MS]\n",
                 argv0);
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) return usage(argv[0]);
    std::string backend = "auto";
    unsigned long n_ctx = 0;
    long long default_timeout_ms = 0;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) return usage(argv[0]);
        std::string a = argv[i];
        if (a == "-b") backend = argv[i + 1];
        else if (a == "-c") n_ctx = std::strtoul(argv[i + 1], nullptr, 10);
        else if (a == "-T") default_timeout_ms = std::strtoll(argv[i + 1], nullptr, 10);
        else return usage(argv[0]);
    }
    try {
        edgellm_model_params mp;
        edgellm_model_params_init(&mp);
        if (backend == "cpu") mp.backend = EDGELLM_BACKEND_CPU;
        else if (backend == "reference") mp.backend = EDGELLM_BACKEND_CPU_REFERENCE;
        else if (backend == "opencl") mp.backend = EDGELLM_BACKEND_OPENCL;
        else if (backend != "auto") return usage(argv[0]);
        edgellm::Model model(argv[1], &mp);
        edgellm_session_params sp;
        edgellm_session_params_init(&sp);
        sp.n_ctx = static_cast<uint32_t>(n_ctx);
        edgellm::Session session(model, &sp);
        Watchdog watchdog(session.get());
        Service service{model, session, watchdog, default_timeout_ms};
        edgellm_model_info info = model.info();
        std::fprintf(stderr, "edgellm-service: %s on %s ready (n_ctx %zu)\n", info.name,
                     info.device_name, session.n_ctx());
        std::string line;
        while (std::getline(std::cin, line)) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue; // blank line
            service.serve_line(line);
        }
        return 0;
    } catch (const edgellm::Error &e) {
        std::fprintf(stderr, "edgellm-service: %s\n", e.what());
        return 1;
    }
}
