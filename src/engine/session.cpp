// Session state, prefill in n_batch chunks, and the generation loop with UTF-8-safe streaming
// and stop strings held back until they can no longer match.
#include "engine/session.h"
#include "core/env.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sys/resource.h>

#include "core/error.h"
#include "core/utf8.h"
#include "engine/sampler.h"

namespace edgellm {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
uint64_t peak_rss_bytes() {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024ull;  // Linux reports KiB
}
// EDGELLM_HOST_SAMPLING=1: generate samples every token on the host from read-back logits, also
// where the backend could choose greedy tokens itself (tests compare the two paths).
bool host_sampling_forced() {
    return env_flag("EDGELLM_HOST_SAMPLING");
}
}  // namespace

Session::Session(const Model &model, const SessionOptions &opt) : model_(model) {
    int ctx = (int)opt.n_ctx;
    if (ctx <= 0) ctx = std::min(model.config.n_ctx_train > 0 ? model.config.n_ctx_train : 4096, 4096);
    n_ctx_ = ctx;
    n_batch_ = opt.n_batch ? (int)std::min<uint32_t>(opt.n_batch, 4096) : 256;
    n_batch_ = std::min(n_batch_, n_ctx_);
    std::lock_guard<std::mutex> lock(model.compute_mutex);
    kv_ = model.backend->alloc_kv(model.config.n_layer, n_ctx_, (int)model.config.kv_dim());
    scratch_ = std::make_unique<Scratch>(*model.backend, model.config, n_batch_, n_ctx_);
    logits_.resize((size_t)model.config.n_vocab);
}

void Session::reset() {
    tokens_.clear();
    n_eval_ = 0;
}

void Session::truncate(size_t n_keep) {
    if (n_keep < tokens_.size()) tokens_.resize(n_keep);
    n_eval_ = std::min(n_eval_, tokens_.size());
}

edgellm_status Session::eval_pending(float *logits, bool check_cancel, int32_t *greedy) {
    if (n_eval_ == tokens_.size()) {
        if (!logits && !greedy) return EDGELLM_OK;
        if (n_eval_ == 0) fail(EDGELLM_ERR_INVALID_ARGUMENT, "no tokens to evaluate");
        n_eval_--;  // re-run the last token to get its logits (cheap, rare)
    }
    while (n_eval_ < tokens_.size()) {
        if (check_cancel && cancel_.load()) return EDGELLM_CANCELLED;
        int n = (int)std::min<size_t>((size_t)n_batch_, tokens_.size() - n_eval_);
        bool last = n_eval_ + (size_t)n == tokens_.size();
        {
            std::lock_guard<std::mutex> lock(model_.compute_mutex);
            if (last && greedy)
                *greedy = forward_argmax(model_, *kv_, *scratch_, tokens_.data() + n_eval_, n, (int)n_eval_);
            else
                forward(model_, *kv_, *scratch_, tokens_.data() + n_eval_, n, (int)n_eval_,
                        last ? logits : nullptr);
        }
        n_eval_ += (size_t)n;
    }
    return EDGELLM_OK;
}

edgellm_status Session::eval(const int32_t *tokens, size_t n, float *logits) {
    cancel_.store(false);
    const int32_t n_vocab = model_.config.n_vocab;
    for (size_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d at index %zu is outside [0, %d)", tokens[i], i, n_vocab);
    if (tokens_.size() + n > (size_t)n_ctx_) return EDGELLM_CONTEXT_FULL;
    size_t old = tokens_.size();
    tokens_.insert(tokens_.end(), tokens, tokens + n);
    try {
        return eval_pending(logits, true);
    } catch (...) {
        truncate(old);  // nothing half-appended survives a failure
        throw;
    }
}

edgellm_status Session::chat(const std::vector<int32_t> &conv, const edgellm_generate_params &p,
                             const StreamFn &stream, edgellm_stats &stats) {
    size_t common = 0;
    while (common < tokens_.size() && common < conv.size() && tokens_[common] == conv[common]) ++common;
    if (common == conv.size() && common > 0) --common;  // keep one token to produce logits from
    truncate(common);
    std::vector<int32_t> rest(conv.begin() + (ptrdiff_t)common, conv.end());
    return generate(rest, p, stream, stats);
}

namespace {

// Streams text in whole UTF-8 characters and holds back any tail that could begin a stop string.
class TextStream {
public:
    TextStream(const edgellm_generate_params &p, const StreamFn &fn) : fn_(fn) {
        for (size_t i = 0; i < p.n_stop && p.stop; ++i)
            if (p.stop[i] && p.stop[i][0]) stops_.emplace_back(p.stop[i]);
    }
    // Adds a token's bytes. Returns false if the callback asked to stop. Sets matched_stop.
    bool add(const std::string &bytes, int32_t token) {
        raw_ += bytes;
        size_t complete = utf8_complete_prefix(raw_);
        text_ += sanitize_utf8(raw_.substr(0, complete));
        raw_.erase(0, complete);
        return emit(token, false);
    }
    // End of generation: flush everything (an unfinished character becomes U+FFFD).
    bool flush(int32_t token) {
        if (!raw_.empty()) {
            text_ += sanitize_utf8(raw_);
            raw_.clear();
        }
        return emit(token, true);
    }
    bool matched_stop = false;

private:
    bool emit(int32_t token, bool final) {
        if (matched_stop) return true;
        size_t send = text_.size();
        for (const std::string &s : stops_) {
            size_t pos = text_.find(s);
            if (pos != std::string::npos && pos < send) {
                send = pos;
                matched_stop = true;
            }
        }
        if (!matched_stop && !final) {
            // Hold back the longest tail that is a prefix of some stop string.
            size_t hold = 0;
            for (const std::string &s : stops_) {
                for (size_t k = std::min(s.size() - 1, text_.size()); k > hold; --k)
                    if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
                        hold = k;
                        break;
                    }
            }
            send = text_.size() - hold;
        }
        bool go = true;
        if (send > 0 && fn_) go = fn_(text_.data(), send, token);
        text_.erase(0, matched_stop ? text_.size() : send);
        return go;
    }
    const StreamFn &fn_;
    std::vector<std::string> stops_;
    std::string raw_;   // bytes not yet forming whole characters
    std::string text_;  // whole characters not yet sent
};

}  // namespace

edgellm_status Session::generate(const std::vector<int32_t> &prompt, const edgellm_generate_params &p,
                                 const StreamFn &stream, edgellm_stats &st) {
    cancel_.store(false);
    const Model &m = model_;
    const int32_t n_vocab = m.config.n_vocab;
    st.n_reused_tokens = n_eval_;
    for (int32_t t : prompt)
        if (t < 0 || t >= n_vocab) fail(EDGELLM_ERR_INVALID_TOKEN, "prompt token id %d is outside [0, %d)", t, n_vocab);
    if (tokens_.size() + prompt.size() > (size_t)n_ctx_) {
        st.stop_reason = EDGELLM_STOP_CONTEXT_FULL;
        return EDGELLM_CONTEXT_FULL;
    }
    const size_t old = tokens_.size();
    tokens_.insert(tokens_.end(), prompt.begin(), prompt.end());
    if (tokens_.empty()) fail(EDGELLM_ERR_INVALID_ARGUMENT, "empty prompt on an empty session");

    // Greedy decoding that no penalty changes: the backend chooses every token (forward_argmax,
    // the sampler's greedy rule), prefill's first one too, reading back one index per token
    // instead of n_vocab logits; logits_ is then left alone. Otherwise the host samples logits_.
    Sampler sampler(p);
    const bool device_greedy = sampler.plain_greedy() && !host_sampling_forced();
    int32_t next = -1;  // device_greedy: the token chosen after the last evaluation

    // Prefill.
    auto t0 = Clock::now();
    size_t to_eval = tokens_.size() - n_eval_;
    edgellm_status s;
    try {
        s = device_greedy ? eval_pending(nullptr, true, &next) : eval_pending(logits_.data(), true);
    } catch (...) {
        truncate(old);
        throw;
    }
    st.prefill_ms = ms_since(t0);
    st.n_prompt_tokens = to_eval;
    if (s != EDGELLM_OK) {
        st.stop_reason = EDGELLM_STOP_CANCELLED;
        st.peak_memory_bytes = peak_rss_bytes();
        return s;
    }

    TextStream text(p, stream);
    auto t1 = Clock::now();
    int64_t max_new = p.max_new_tokens < 0 ? INT64_MAX : p.max_new_tokens;
    edgellm_status result = EDGELLM_OK;
    st.stop_reason = EDGELLM_STOP_MAX_TOKENS;
    int32_t tok = -1;
    double eval_ms = 0;
    uint64_t n_evals = 0;
    // Pipelined greedy decoding, where the backend holds tokens on the device: the step that
    // evaluates a token is issued before the token is read back (it embeds the id the previous
    // step's argmax left in the scratch), so the device computes while the host streams the text
    // and no step waits for a host round trip. That step is kept (n_eval_) exactly where the loop
    // below would have evaluated the token; at a stop only the token itself announces (EOS, a stop
    // string, the callback, a cancel) it has written KV-cache rows past n_eval_, which whatever
    // runs next recomputes: the same tokens, statistics and cache state as the synchronous path.
    const bool pipe = device_greedy && m.backend->pipelined_tokens(*m.weights.tok_embd);
    bool next_on_device = false;  // pipe: `next` is the id in scratch_->tok, not yet read
    // pipe: a token_read_begin without its token_read_end, which a failed step leaves to end here.
    struct PendingRead {
        Backend &be;
        Buffer &tok;
        size_t n;
        bool on = false;
        ~PendingRead() {
            if (!on) return;
            try {
                be.token_read_end(tok, n);
            } catch (...) {
            }
        }
    } reading{*m.backend, *scratch_->tok, (size_t)n_vocab};
    for (int64_t i = 0; i < max_new; ++i) {
        if (tokens_.size() >= (size_t)n_ctx_) {
            st.stop_reason = EDGELLM_STOP_CONTEXT_FULL;
            result = EDGELLM_CONTEXT_FULL;
            break;
        }
        // pipe: the step evaluating this iteration's token, if the loop could reach its evaluation.
        bool ahead = false;
        if (pipe) {
            ahead = i + 1 < max_new && tokens_.size() + 1 < (size_t)n_ctx_ && !cancel_.load();
            auto te = Clock::now();
            {
                std::lock_guard<std::mutex> lock(m.compute_mutex);
                if (next_on_device) {
                    m.backend->token_read_begin(*scratch_->tok);
                    reading.on = true;
                }
                if (ahead)
                    forward_greedy_keep(m, *kv_, *scratch_, next_on_device ? nullptr : &next, 1, (int)tokens_.size());
            }
            if (next_on_device) {
                reading.on = false;  // token_read_end ends the read whether it returns or throws
                next = m.backend->token_read_end(*scratch_->tok, (size_t)n_vocab);
            }
            next_on_device = false;
            eval_ms += ms_since(te);
        }
        tok = device_greedy ? next : sampler.sample(logits_.data(), n_vocab, tokens_);
        tokens_.push_back(tok);
        st.n_generated_tokens++;
        if (st.n_generated_tokens == 1) st.time_to_first_token_ms = st.prefill_ms + ms_since(t1);
        if (!p.ignore_eos && m.is_eog(tok)) {
            st.stop_reason = EDGELLM_STOP_EOS;
            break;
        }
        std::string piece = m.tokenizer ? m.tokenizer->token_piece(tok) : std::string();
        if (!text.add(piece, tok)) {
            st.stop_reason = EDGELLM_STOP_CANCELLED;
            result = EDGELLM_CANCELLED;
            break;
        }
        if (text.matched_stop) {
            st.stop_reason = EDGELLM_STOP_STRING;
            break;
        }
        if (i + 1 == max_new) break;
        if (cancel_.load()) {
            st.stop_reason = EDGELLM_STOP_CANCELLED;
            result = EDGELLM_CANCELLED;
            break;
        }
        if (tokens_.size() >= (size_t)n_ctx_) {
            st.stop_reason = EDGELLM_STOP_CONTEXT_FULL;
            result = EDGELLM_CONTEXT_FULL;
            break;
        }
        if (ahead) {  // evaluated by the step issued above; its greedy token is on the device
            n_eval_ = tokens_.size();
            n_evals++;
            next_on_device = true;
            continue;
        }
        auto te = Clock::now();
        edgellm_status es = device_greedy ? eval_pending(nullptr, false, &next)  // the sampled token
                                          : eval_pending(logits_.data(), false);
        eval_ms += ms_since(te);
        n_evals++;
        if (es != EDGELLM_OK) {
            result = es;
            break;
        }
    }
    if (result != EDGELLM_CANCELLED && !text.flush(tok)) result = EDGELLM_CANCELLED;
    st.decode_ms = ms_since(t1);
    // Decode speed counts the forward passes of generated tokens (the first token comes from the
    // prefill logits; the last one is sampled but not yet evaluated).
    st.decode_tokens_per_second = n_evals && eval_ms > 0 ? n_evals / (eval_ms / 1000.0) : 0.0;
    st.prefill_tokens_per_second = st.prefill_ms > 0 ? st.n_prompt_tokens / (st.prefill_ms / 1000.0) : 0.0;
    st.peak_memory_bytes = peak_rss_bytes();
    st.weight_bytes = m.weight_bytes;
    st.load_ms = m.load_ms;
    return result;
}

}  // namespace edgellm
