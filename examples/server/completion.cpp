// completion.cpp -- the two generation endpoints. Everything that can make a request fail (JSON,
// types, the chat template, a prompt longer than the context, a full queue) is checked in the
// handler, before the status line is sent; generation then runs in cpp-httplib's chunked content
// provider, where every write tells whether the client is still there: a failed write cancels the
// generation at that step.
#include "completion.hpp"

#include "../service/json_out.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// Tokenizes with the C ABI's output-buffer convention; a failure is the request's fault (400).
std::vector<int32_t> tokenize(const edgellm_model *model, const std::string &text, uint32_t flags) {
    std::vector<int32_t> ids(text.size() + 8);
    size_t n = 0;
    edgellm_status st = edgellm_tokenize(model, text.data(), text.size(), flags, ids.data(), ids.size(), &n);
    if (st == EDGELLM_ERR_BUFFER_TOO_SMALL) {
        ids.resize(n);
        st = edgellm_tokenize(model, text.data(), text.size(), flags, ids.data(), ids.size(), &n);
    }
    if (st != EDGELLM_OK) throw ApiError{400, std::string("cannot tokenize the prompt: ") + edgellm_last_error(), "invalid_request_error", "", ""};
    ids.resize(n);
    return ids;
}

std::vector<edgellm_chat_message> c_messages(const std::vector<ChatMessage> &msgs) {
    std::vector<edgellm_chat_message> out;
    for (const ChatMessage &m : msgs) out.push_back(edgellm_chat_message{m.role.c_str(), m.content.c_str()});
    return out;
}

// The conversation as edgellm_chat tokenizes it: the model's template with the generation prompt,
// special tokens parsed and none added (the template writes BOS itself).
std::vector<int32_t> chat_tokens(const edgellm_model *model, const std::vector<ChatMessage> &msgs) {
    std::vector<edgellm_chat_message> cm = c_messages(msgs);
    std::string text(4096, '\0');
    size_t n = 0;
    edgellm_status st = edgellm_chat_apply_template(model, nullptr, cm.data(), cm.size(), 1, text.data(), text.size(), &n);
    if (st == EDGELLM_ERR_BUFFER_TOO_SMALL) {
        text.resize(n + 1);
        st = edgellm_chat_apply_template(model, nullptr, cm.data(), cm.size(), 1, text.data(), text.size(), &n);
    }
    if (st != EDGELLM_OK)
        throw ApiError{400, std::string("cannot apply the chat template: ") + edgellm_last_error(), "invalid_request_error",
                       "messages", ""};
    text.resize(n);
    return tokenize(model, text, EDGELLM_TOKENIZE_PARSE_SPECIAL);
}

// One request from admission to its last byte; shared by the handler and the content provider.
// Its destructor counts the request out of the pool whether or not the provider ever ran.
struct Job {
    SessionPool &pool;
    edgellm_model *model;
    CompletionRequest req;
    std::vector<int32_t> prompt;  // the tokens the request's text becomes
    std::string id, model_name;
    long long created = 0;
    Clock::time_point t_received = Clock::now();
    bool admitted = false;
    Job(SessionPool &p, edgellm_model *m) : pool(p), model(m) {}
    ~Job() {
        if (admitted) pool.leave();
    }
};

const char *finish_reason(int32_t stop_reason) {
    return stop_reason == EDGELLM_STOP_MAX_TOKENS || stop_reason == EDGELLM_STOP_CONTEXT_FULL ? "length" : "stop";
}

std::string head(const Job &job, const char *object) {
    std::string s = "{\"id\":\"" + job.id + "\",\"object\":\"" + object + "\",\"created\":" +
                    std::to_string(job.created) + ",\"model\":";
    json::append_string(s, job.model_name);
    return s;
}

std::string usage(const Job &job, const edgellm_stats &st, uint64_t cached) {
    uint64_t p = job.prompt.size(), c = st.n_generated_tokens;
    return "{\"prompt_tokens\":" + std::to_string(p) + ",\"completion_tokens\":" + std::to_string(c) +
           ",\"total_tokens\":" + std::to_string(p + c) + ",\"prompt_tokens_details\":{\"cached_tokens\":" +
           std::to_string(cached) + "}}";
}

// Speed figures, named as llama.cpp's server names them.
std::string timings(const edgellm_stats &st) {
    std::string s = "{\"prompt_n\":" + std::to_string(st.n_prompt_tokens) + ",\"prompt_ms\":";
    json::append_number(s, st.prefill_ms);
    s += ",\"prompt_per_second\":", json::append_number(s, st.prefill_tokens_per_second);
    s += ",\"predicted_n\":" + std::to_string(st.n_generated_tokens) + ",\"predicted_ms\":";
    json::append_number(s, st.decode_ms);
    s += ",\"predicted_per_second\":", json::append_number(s, st.decode_tokens_per_second);
    s += ",\"time_to_first_token_ms\":", json::append_number(s, st.time_to_first_token_ms);
    return s + "}";
}

// A streamed chunk carrying `text` (and `finish`, when not null).
std::string chunk(const Job &job, std::string_view text, const char *finish, const std::string &extra = "") {
    std::string s;
    if (job.req.chat) {
        s = head(job, "chat.completion.chunk") + ",\"choices\":[{\"index\":0,\"delta\":{";
        if (!finish) s += "\"content\":", json::append_string(s, text);
        s += "},\"logprobs\":null,\"finish_reason\":";
    } else {
        s = head(job, "text_completion") + ",\"choices\":[{\"text\":";
        json::append_string(s, text);
        s += ",\"index\":0,\"logprobs\":null,\"finish_reason\":";
    }
    s += finish ? std::string("\"") + finish + "\"" : "null";
    return "data: " + s + "}]" + extra + "}\n\n";
}

// What the stream callback needs: where to write, and whether the client is gone.
struct Stream {
    Job &job;
    httplib::DataSink &sink;
    std::string text;  // non-streamed: the answer so far
    bool gone = false;
    Clock::time_point last_write = Clock::now();

    bool write(const std::string &s) {
        if (!gone && !sink.write(s.data(), s.size())) gone = true;
        return !gone;
    }
};

// Non-streamed answers send one space (JSON's leading whitespace) at most this often while they
// generate: it is how a client that went away is noticed, as a failed write.
constexpr auto kProbeInterval = std::chrono::milliseconds(250);

int on_piece(const char *piece, size_t len, int32_t, void *ud) {
    Stream &s = *static_cast<Stream *>(ud);
    if (s.job.pool.stopping()) return 1;  // the server is shutting down
    if (s.job.req.stream) return s.write(chunk(s.job, std::string_view(piece, len), nullptr)) ? 0 : 1;
    s.text.append(piece, len);
    auto now = Clock::now();
    if (now - s.last_write >= kProbeInterval) {
        s.last_write = now;
        if (!s.write(" ")) return 1;
    }
    return 0;
}

// Runs the job on a pooled session, writing the response body. Returns false when the client
// went away (cpp-httplib then closes the connection).
bool run(Job &job, httplib::DataSink &sink) {
    Stream out{job, sink, {}, false, Clock::now()};
    const std::string probe = job.req.stream ? ": waiting for a free session\n\n" : " ";
    int slot = job.pool.acquire(job.prompt, [&] { return !out.write(probe); }, std::chrono::milliseconds(500));
    if (slot < 0) {
        std::fprintf(stderr, "edgellm-server: %s: %s while waiting\n", job.id.c_str(),
                     out.gone ? "the client left" : "shutdown");
        if (out.gone) return false;
        std::string body = error_body(ApiError{503, "the server is shutting down", "server_error", "", ""});
        out.write(job.req.stream ? "data: " + body + "\n\n" : body);
        sink.done();
        return true;
    }
    edgellm_session *session = job.pool.session(slot);
    const auto t_start = Clock::now();

    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);
    const CompletionRequest &r = job.req;
    gp.max_new_tokens = r.max_tokens;
    if (r.temperature) gp.temperature = *r.temperature;
    if (r.top_p) gp.top_p = *r.top_p;
    if (r.top_k) gp.top_k = *r.top_k;
    if (r.min_p) gp.min_p = *r.min_p;
    if (r.frequency_penalty) gp.frequency_penalty = *r.frequency_penalty;
    if (r.presence_penalty) gp.presence_penalty = *r.presence_penalty;
    if (r.seed) gp.seed = *r.seed;
    gp.ignore_eos = r.ignore_eos ? 1 : 0;
    std::vector<const char *> stops;
    for (const std::string &s : r.stop) stops.push_back(s.c_str());
    gp.stop = stops.data();
    gp.n_stop = stops.size();

    edgellm_stats st;
    edgellm_stats_init(&st);
    edgellm_status status = EDGELLM_OK;
    uint64_t cached = 0;
    if (r.stream && r.chat)  // OpenAI's first chunk names the role
        out.write("data: " + head(job, "chat.completion.chunk") +
                  ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                  "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    if (!out.gone && r.chat) {
        std::vector<edgellm_chat_message> cm = c_messages(r.messages);
        status = edgellm_chat(session, cm.data(), cm.size(), &gp, on_piece, &out, &st);
        cached = st.n_reused_tokens;
    } else if (!out.gone) {
        // edgellm_generate appends to a session: keep the longest common prefix with the prompt
        // (at least one token to evaluate, for the logits), evaluate the rest, then generate.
        std::vector<int32_t> have(edgellm_session_n_tokens(session));
        size_t n_have = 0;
        if (edgellm_session_get_tokens(session, have.data(), have.size(), &n_have) != EDGELLM_OK) n_have = 0;
        size_t common = 0;
        while (common < n_have && common < job.prompt.size() && have[common] == job.prompt[common]) ++common;
        if (common == job.prompt.size()) --common;
        edgellm_session_truncate(session, common);
        cached = common;
        const auto t_eval = Clock::now();
        status = edgellm_session_eval(session, job.prompt.data() + common, job.prompt.size() - common, nullptr);
        const double eval_ms = ms_between(t_eval, Clock::now());
        if (status == EDGELLM_OK) status = edgellm_generate(session, "", &gp, on_piece, &out, &st);
        // The prefill is this eval plus the one token edgellm_generate evaluates again.
        st.n_prompt_tokens = job.prompt.size() - common;
        st.prefill_ms += eval_ms;
        st.time_to_first_token_ms += eval_ms;
        st.prefill_tokens_per_second = st.prefill_ms > 0 ? 1000.0 * (double)st.n_prompt_tokens / st.prefill_ms : 0;
    }
    std::string error = status == EDGELLM_OK || status == EDGELLM_CONTEXT_FULL || status == EDGELLM_CANCELLED
                            ? ""
                            : std::string(edgellm_status_string(status)) + ": " + edgellm_last_error();
    if (status == EDGELLM_CANCELLED && !out.gone) error = "the server is shutting down";
    if (!error.empty()) edgellm_session_reset(session);
    job.pool.release(slot);
    const auto t_end = Clock::now();
    if (status == EDGELLM_CONTEXT_FULL) st.stop_reason = EDGELLM_STOP_CONTEXT_FULL;

    std::fprintf(stderr,
                 "edgellm-server: %s %s%s prompt=%zu cached=%llu completion=%llu %s queue_ms=%.0f ttft_ms=%.0f "
                 "total_ms=%.0f%s%s\n",
                 job.id.c_str(), r.chat ? "chat" : "completion", r.stream ? " stream" : "", job.prompt.size(),
                 (unsigned long long)cached, (unsigned long long)st.n_generated_tokens,
                 out.gone ? "client-left" : error.empty() ? finish_reason(st.stop_reason) : "error",
                 ms_between(job.t_received, t_start), st.time_to_first_token_ms, ms_between(job.t_received, t_end),
                 error.empty() ? "" : " ", error.c_str());
    if (out.gone) return false;

    // The status line went out with the first byte; an engine error goes into the body.
    if (!error.empty()) {
        std::string body = error_body(ApiError{500, error, "server_error", "", ""});
        out.write(r.stream ? "data: " + body + "\n\n" : body);
        sink.done();
        return true;
    }
    const char *finish = finish_reason(st.stop_reason);
    if (r.stream) {
        out.write(chunk(job, "", finish, ",\"timings\":" + timings(st)));
        if (r.include_usage)
            out.write("data: " + head(job, r.chat ? "chat.completion.chunk" : "text_completion") +
                      ",\"choices\":[],\"usage\":" + usage(job, st, cached) + "}\n\n");
        out.write("data: [DONE]\n\n");
    } else {
        std::string s = head(job, r.chat ? "chat.completion" : "text_completion") + ",\"choices\":[{";
        s += r.chat ? "\"message\":{\"role\":\"assistant\",\"content\":" : "\"text\":";
        json::append_string(s, out.text);
        s += r.chat ? "},\"index\":0" : ",\"index\":0";
        s += ",\"logprobs\":null,\"finish_reason\":\"" + std::string(finish) + "\"}],\"usage\":" + usage(job, st, cached) +
             ",\"timings\":" + timings(st) + "}";
        out.write(s);
    }
    if (out.gone) return false;
    sink.done();
    return true;
}

}  // namespace

std::string error_body(const ApiError &e) {
    std::string s = "{\"error\":{\"message\":";
    json::append_string(s, e.message);
    s += ",\"type\":";
    json::append_string(s, e.type);
    s += ",\"param\":";
    if (e.param.empty()) s += "null";
    else json::append_string(s, e.param);
    s += ",\"code\":";
    if (e.code.empty()) s += "null";
    else json::append_string(s, e.code);
    return s + "}}";
}

void Completions::handle(const httplib::Request &req, httplib::Response &res, bool chat) {
    auto job = std::make_shared<Job>(pool_, model_);
    try {
        simdjson::dom::parser parser;
        job->req = openai_request::parse(parser, req.body, chat);
        job->prompt = chat ? chat_tokens(model_, job->req.messages)
                           : tokenize(model_, job->req.prompt, EDGELLM_TOKENIZE_ADD_SPECIAL | EDGELLM_TOKENIZE_PARSE_SPECIAL);
        if (job->prompt.empty()) throw ApiError{400, "the prompt is empty", "invalid_request_error", "prompt", ""};
        const size_t n_ctx = pool_.n_ctx();
        if (job->prompt.size() >= n_ctx)
            throw ApiError{400,
                           "this model's context is " + std::to_string(n_ctx) + " tokens; the prompt has " +
                               std::to_string(job->prompt.size()) + " and at least one is needed for the answer",
                           "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded"};
        if (!pool_.admit()) {
            res.set_header("Retry-After", "1");
            throw ApiError{503, "the server is busy: every session is in use and the queue is full", "server_error", "",
                           "server_busy"};
        }
        job->admitted = true;
    } catch (const ApiError &e) {
        res.status = e.http_status;
        res.set_content(error_body(e), "application/json");
        std::fprintf(stderr, "edgellm-server: %s %d %s\n", req.path.c_str(), e.http_status, e.message.c_str());
        return;
    }
    job->id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(++next_id_);
    job->created = (long long)std::time(nullptr);
    job->model_name = model_name_;  // the one model served, whatever the request named
    if (job->req.stream) res.set_header("Cache-Control", "no-cache");
    // "application/json; charset=utf-8", not "application/json": cpp-httplib compresses the latter
    // when the client accepts gzip, and a compressor would hold back the probe spaces.
    res.set_chunked_content_provider(job->req.stream ? "text/event-stream" : "application/json; charset=utf-8",
                                     [job](size_t, httplib::DataSink &sink) { return run(*job, sink); });
}
