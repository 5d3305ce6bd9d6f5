// edgellm.hpp -- a small header-only C++17 RAII layer over the libedgellm C ABI: Model and Session
// own their handles (move-only), failures throw edgellm::Error (status + last-error text), and
// streaming callbacks are std::function; an exception thrown by one stops generation and is
// rethrown from generate()/chat() after the C call has returned. Only <edgellm/edgellm.h> is used.
#pragma once

#include <edgellm/edgellm.h>

#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgellm {

class Error : public std::runtime_error {
public:
    Error(edgellm_status status, const std::string &message)
        : std::runtime_error(std::string(edgellm_status_string(status)) + ": " + message),
          status_(status) {}
    edgellm_status status() const noexcept { return status_; }

private:
    edgellm_status status_;
};

// Throws for failures; returns OK and the soft outcomes (CANCELLED, CONTEXT_FULL) unchanged.
inline edgellm_status check(edgellm_status status) {
    if (status == EDGELLM_OK || status == EDGELLM_CANCELLED || status == EDGELLM_CONTEXT_FULL)
        return status;
    throw Error(status, edgellm_last_error());
}

struct Message {
    std::string role;
    std::string content;
};

// Generation parameters with owned stop strings; defaults from edgellm_generate_params_init.
class GenerateParams {
public:
    GenerateParams() { edgellm_generate_params_init(&params_); }
    edgellm_generate_params *operator->() { return &params_; }
    void add_stop(std::string s) { stops_.push_back(std::move(s)); }
    // The C struct, with the stop array pointing into this object (valid while it lives).
    const edgellm_generate_params *get() {
        stop_ptrs_.clear();
        for (const auto &s : stops_) stop_ptrs_.push_back(s.c_str());
        params_.stop = stop_ptrs_.empty() ? nullptr : stop_ptrs_.data();
        params_.n_stop = stop_ptrs_.size();
        return &params_;
    }

private:
    edgellm_generate_params params_{};
    std::vector<std::string> stops_;
    std::vector<const char *> stop_ptrs_;
};

struct Result {
    edgellm_status status = EDGELLM_OK; // OK, CANCELLED or CONTEXT_FULL
    std::string text;
    edgellm_stats stats{};
};

// Receives each piece of text; return false to stop generation.
using PieceCallback = std::function<bool(std::string_view piece)>;

namespace detail {
// Reads an output-buffer-convention call into a std::string (text) or vector (tokens).
template <typename T, typename Call> std::vector<T> read_buffer(Call call, size_t guess) {
    std::vector<T> buf(guess + 1);
    for (int attempt = 0; attempt < 3; ++attempt) {
        size_t n = 0;
        edgellm_status st = call(buf.data(), buf.size(), &n);
        if (st == EDGELLM_ERR_BUFFER_TOO_SMALL) {
            buf.resize(n + 1);
            continue;
        }
        check(st);
        buf.resize(n);
        return buf;
    }
    throw Error(EDGELLM_ERR_INTERNAL, "output size kept changing");
}

struct StreamState {
    const PieceCallback *on_piece;
    std::string text;
    std::exception_ptr error;
};

inline int trampoline(const char *piece, size_t len, int32_t, void *user_data) {
    auto *state = static_cast<StreamState *>(user_data);
    try {
        state->text.append(piece, len);
        if (*state->on_piece && !(*state->on_piece)(std::string_view(piece, len))) return 1;
        return 0;
    } catch (...) { // never let an exception unwind through the C library
        state->error = std::current_exception();
        return 1;
    }
}

struct CMessages {
    std::vector<edgellm_chat_message> items;
    explicit CMessages(const std::vector<Message> &messages) {
        for (const auto &m : messages) items.push_back({m.role.c_str(), m.content.c_str()});
    }
};
} // namespace detail

class Model {
public:
    explicit Model(const std::string &path, const edgellm_model_params *params = nullptr) {
        check(edgellm_model_open(path.c_str(), params, &model_));
    }
    ~Model() { edgellm_model_close(model_); }
    Model(Model &&other) noexcept : model_(std::exchange(other.model_, nullptr)) {}
    Model &operator=(Model &&other) noexcept {
        if (this != &other) {
            edgellm_model_close(model_);
            model_ = std::exchange(other.model_, nullptr);
        }
        return *this;
    }
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;

    edgellm_model *get() const noexcept { return model_; }

    edgellm_model_info info() const {
        edgellm_model_info info;
        edgellm_model_info_init(&info);
        check(edgellm_model_get_info(model_, &info));
        return info;
    }

    std::vector<int32_t> tokenize(std::string_view text,
                                  uint32_t flags = EDGELLM_TOKENIZE_ADD_SPECIAL |
                                                   EDGELLM_TOKENIZE_PARSE_SPECIAL) const {
        return detail::read_buffer<int32_t>(
            [&](int32_t *buf, size_t cap, size_t *n) {
                return edgellm_tokenize(model_, text.data(), text.size(), flags, buf, cap, n);
            },
            text.size() + 8);
    }

    std::string detokenize(const std::vector<int32_t> &tokens, uint32_t flags = 0) const {
        auto chars = detail::read_buffer<char>(
            [&](char *buf, size_t cap, size_t *n) {
                return edgellm_detokenize(model_, tokens.data(), tokens.size(), flags, buf, cap, n);
            },
            tokens.size() * 8 + 16);
        return std::string(chars.begin(), chars.end());
    }

    // template_source: nullptr = the model's own, a built-in name, or Jinja source.
    std::string apply_chat_template(const std::vector<Message> &messages,
                                    bool add_generation_prompt = true,
                                    const char *template_source = nullptr) const {
        detail::CMessages cm(messages);
        auto chars = detail::read_buffer<char>(
            [&](char *buf, size_t cap, size_t *n) {
                return edgellm_chat_apply_template(model_, template_source, cm.items.data(),
                                                   cm.items.size(), add_generation_prompt ? 1 : 0,
                                                   buf, cap, n);
            },
            1024);
        return std::string(chars.begin(), chars.end());
    }

private:
    edgellm_model *model_ = nullptr;
};

class Session {
public:
    explicit Session(Model &model, const edgellm_session_params *params = nullptr) {
        check(edgellm_session_create(model.get(), params, &session_));
    }
    ~Session() { edgellm_session_free(session_); }
    Session(Session &&other) noexcept : session_(std::exchange(other.session_, nullptr)) {}
    Session &operator=(Session &&other) noexcept {
        if (this != &other) {
            edgellm_session_free(session_);
            session_ = std::exchange(other.session_, nullptr);
        }
        return *this;
    }
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    edgellm_session *get() const noexcept { return session_; }
    size_t n_tokens() const noexcept { return edgellm_session_n_tokens(session_); }
    size_t n_ctx() const noexcept { return edgellm_session_n_ctx(session_); }
    void reset() { check(edgellm_session_reset(session_)); }
    // Safe from any thread while generate()/chat() runs on another.
    void cancel() noexcept { edgellm_session_cancel(session_); }

    Result generate(const std::string &prompt, GenerateParams &params,
                    const PieceCallback &on_piece = {}) {
        return run(on_piece, [&](edgellm_stream_callback cb, void *ud, edgellm_stats *stats) {
            return edgellm_generate(session_, prompt.c_str(), params.get(), cb, ud, stats);
        });
    }

    Result chat(const std::vector<Message> &messages, GenerateParams &params,
                const PieceCallback &on_piece = {}) {
        detail::CMessages cm(messages);
        return run(on_piece, [&](edgellm_stream_callback cb, void *ud, edgellm_stats *stats) {
            return edgellm_chat(session_, cm.items.data(), cm.items.size(), params.get(), cb, ud,
                                stats);
        });
    }

private:
    template <typename Call> Result run(const PieceCallback &on_piece, Call call) {
        detail::StreamState state{&on_piece, {}, nullptr};
        Result result;
        edgellm_stats_init(&result.stats);
        edgellm_status st = call(&detail::trampoline, &state, &result.stats);
        if (state.error) std::rethrow_exception(state.error);
        result.status = check(st);
        result.text = std::move(state.text);
        return result;
    }

    edgellm_session *session_ = nullptr;
};

} // namespace edgellm
