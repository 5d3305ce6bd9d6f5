// The C ABI: thin wrappers that validate arguments, call the C++ engine, and turn every exception
// into a status plus a thread-local last-error message. No logic beyond that lives here.
#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"
#include "edgellm/edgellm.h"
#include "engine/model.h"
#include "engine/session.h"

#ifdef EDGELLM_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

struct edgellm_model {
    std::unique_ptr<edgellm::Model> impl;
};
struct edgellm_session {
    std::unique_ptr<edgellm::Session> impl;
};

namespace {

using namespace edgellm;

thread_local std::string t_last_error;

edgellm_status set_error(edgellm_status s, const std::string &msg) {
    try {
        t_last_error = msg;
    } catch (...) {
    }
    return s;
}

// Runs fn, converting every exception into a status and last-error text.
template <typename Fn> edgellm_status guard(const char *where, Fn &&fn) {
    try {
        return fn();
    } catch (const Error &e) {
        return set_error(e.status(), std::string(where) + ": " + e.what());
    } catch (const std::bad_alloc &) {
        return set_error(EDGELLM_ERR_OUT_OF_MEMORY, std::string(where) + ": out of host memory");
    } catch (const std::exception &e) {
        return set_error(EDGELLM_ERR_INTERNAL, std::string(where) + ": " + e.what());
    } catch (...) {
        return set_error(EDGELLM_ERR_INTERNAL, std::string(where) + ": unknown exception");
    }
}

edgellm_status bad_arg(const char *where, const char *what) {
    return set_error(EDGELLM_ERR_INVALID_ARGUMENT, std::string(where) + ": " + what);
}

// struct_size check: must cover at least the first published layout (0.1).
template <typename T> bool size_ok(const T *p, size_t v01_size) {
    return p->struct_size >= sizeof(uint32_t) && p->struct_size >= v01_size;
}

// Copies a prefix of `src` (struct_size bytes at most) into a defaulted full struct, so that a
// caller built against an older, smaller struct gets defaults for the newer fields.
template <typename T> T read_params(const T *user, const T &defaults) {
    T out = defaults;
    if (user) std::memcpy(&out, user, std::min<size_t>(user->struct_size, sizeof(T)));
    out.struct_size = sizeof(T);
    return out;
}

// Writes a full struct back into the caller's, at most its struct_size bytes.
template <typename T> void write_out(T *user, const T &full) {
    uint32_t n = user->struct_size;
    std::memcpy(user, &full, std::min<size_t>(n, sizeof(T)));
    user->struct_size = n;
}

edgellm_status copy_text(const std::string &s, char *buf, size_t cap, size_t *len) {
    *len = s.size();
    if (buf && cap > 0) {
        size_t n = std::min(cap, s.size());
        std::memcpy(buf, s.data(), n);
        if (cap > s.size()) buf[s.size()] = '\0';
    }
    if (cap < s.size()) {
        return set_error(EDGELLM_ERR_BUFFER_TOO_SMALL,
                         strprintf("buffer of %zu bytes is too small: %zu needed", cap, s.size()));
    }
    return EDGELLM_OK;
}

edgellm_status copy_tokens(const std::vector<int32_t> &v, int32_t *out, size_t cap, size_t *n) {
    *n = v.size();
    if (out && cap > 0 && !v.empty()) std::memcpy(out, v.data(), std::min(cap, v.size()) * sizeof(int32_t));
    if (cap < v.size()) {
        return set_error(EDGELLM_ERR_BUFFER_TOO_SMALL,
                         strprintf("buffer of %zu tokens is too small: %zu needed", cap, v.size()));
    }
    return EDGELLM_OK;
}

const Tokenizer &need_tokenizer(const edgellm_model *m) {
    if (!m->impl->tokenizer) fail(EDGELLM_ERR_UNSUPPORTED, "this model has no tokenizer");
    return *m->impl->tokenizer;
}

edgellm_generate_params default_generate_params() {
    edgellm_generate_params p;
    std::memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.max_new_tokens = 256;
    p.temperature = 0.7f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repetition_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = EDGELLM_SEED_RANDOM;
    p.stop = nullptr;
    p.n_stop = 0;
    p.ignore_eos = 0;
    p.tokenize_flags = EDGELLM_TOKENIZE_ADD_SPECIAL | EDGELLM_TOKENIZE_PARSE_SPECIAL;
    return p;
}

std::vector<ChatMessage> to_messages(const edgellm_chat_message *msgs, size_t n) {
    std::vector<ChatMessage> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        if (!msgs[i].role || !msgs[i].content)
            fail(EDGELLM_ERR_INVALID_ARGUMENT, "message %zu has a NULL role or content", i);
        ChatMessage m{msgs[i].role, msgs[i].content};
        if (!utf8_valid(m.role) || !utf8_valid(m.content))
            fail(EDGELLM_ERR_INVALID_UTF8, "message %zu is not valid UTF-8", i);
        out.push_back(std::move(m));
    }
    return out;
}

std::string render_chat(const Model &m, const char *tmpl, const std::vector<ChatMessage> &msgs,
                        bool add_generation_prompt) {
    std::string source;
    if (tmpl) {
        source = tmpl;
    } else if (!m.chat_template.empty()) {
        source = m.chat_template;
    } else if (!m.tokenizer) {
        source = builtin_template_name(false, false, false);
    } else {
        const Tokenizer &t = *m.tokenizer;
        auto has = [&](const char *s) {
            std::vector<int32_t> ids = t.encode(s, false, true);
            return ids.size() == 1 && t.is_special(ids[0]);
        };
        source = builtin_template_name(has("<|start_header_id|>"), has("<|im_start|>"), has("[INST]"),
                                       has("<start_of_turn>"), has("<|user|>"));
    }
    ChatTemplateContext ctx;
    ctx.bos_token = m.tokenizer ? m.tokenizer->bos_text : "";
    ctx.eos_token = m.tokenizer ? m.tokenizer->eos_text : "";
    ctx.add_generation_prompt = add_generation_prompt;
    return render_chat_template(source, msgs, ctx);
}

// Runs generation and fills stats; shared by edgellm_generate and edgellm_chat.
struct CallbackState {
    edgellm_stream_callback cb;
    void *ud;
};

}  // namespace

extern "C" {

const char *edgellm_version(void) {
#define EDGELLM_STR2(x) #x
#define EDGELLM_STR(x) EDGELLM_STR2(x)
    return EDGELLM_STR(EDGELLM_VERSION_MAJOR) "." EDGELLM_STR(EDGELLM_VERSION_MINOR) "." EDGELLM_STR(EDGELLM_VERSION_PATCH);
}

uint32_t edgellm_version_number(void) { return EDGELLM_VERSION_NUMBER; }

const char *edgellm_status_string(edgellm_status s) {
    switch (s) {
    case EDGELLM_OK: return "ok";
    case EDGELLM_CANCELLED: return "cancelled";
    case EDGELLM_CONTEXT_FULL: return "context full";
    case EDGELLM_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case EDGELLM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case EDGELLM_ERR_STRUCT_SIZE: return "wrong struct_size";
    case EDGELLM_ERR_INVALID_UTF8: return "invalid UTF-8";
    case EDGELLM_ERR_INVALID_TOKEN: return "invalid token id";
    case EDGELLM_ERR_TEMPLATE: return "chat template error";
    case EDGELLM_ERR_UNSUPPORTED: return "unsupported";
    case EDGELLM_ERR_FILE_NOT_FOUND: return "file not found";
    case EDGELLM_ERR_IO: return "I/O error";
    case EDGELLM_ERR_INVALID_MODEL: return "invalid model file";
    case EDGELLM_ERR_UNSUPPORTED_MODEL: return "unsupported model";
    case EDGELLM_ERR_OUT_OF_MEMORY: return "out of memory";
    case EDGELLM_ERR_NO_DEVICE: return "no OpenCL device";
    case EDGELLM_ERR_DEVICE: return "OpenCL device error";
    case EDGELLM_ERR_KERNEL_BUILD: return "OpenCL kernel build failed";
    case EDGELLM_ERR_DEVICE_OUT_OF_MEMORY: return "out of device memory";
    case EDGELLM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *edgellm_last_error(void) { return t_last_error.c_str(); }

void edgellm_set_log_callback(edgellm_log_callback cb, void *ud, int32_t max_level) {
    set_global_log(cb, ud, max_level);
}

/* ---- devices ---- */

void edgellm_device_info_init(edgellm_device_info *info) {
    if (!info) return;
    std::memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

edgellm_status edgellm_device_count(size_t *count) {
    if (!count) return bad_arg("edgellm_device_count", "count is NULL");
    return guard("edgellm_device_count", [&] {
#ifdef EDGELLM_WITH_OPENCL
        *count = list_opencl_devices().size();
#else
        *count = 0;
#endif
        return EDGELLM_OK;
    });
}

edgellm_status edgellm_device_get_info(size_t index, edgellm_device_info *info) {
    if (!info) return bad_arg("edgellm_device_get_info", "info is NULL");
    if (!size_ok(info, sizeof(edgellm_device_info)))
        return set_error(EDGELLM_ERR_STRUCT_SIZE, "edgellm_device_get_info: bad struct_size");
    return guard("edgellm_device_get_info", [&]() -> edgellm_status {
#ifdef EDGELLM_WITH_OPENCL
        std::vector<edgellm_device_info> devs = list_opencl_devices();
        if (index >= devs.size())
            fail(EDGELLM_ERR_INVALID_ARGUMENT, "device index %zu out of range (%zu devices)", index, devs.size());
        write_out(info, devs[index]);
        return EDGELLM_OK;
#else
        (void)index;
        fail(EDGELLM_ERR_NO_DEVICE, "this build of libedgellm has no OpenCL backend");
#endif
    });
}

/* ---- model ---- */

void edgellm_model_params_init(edgellm_model_params *p) {
    if (!p) return;
    std::memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->backend = EDGELLM_BACKEND_AUTO;
    p->weights = EDGELLM_WEIGHTS_AUTO;
    p->device_index = -1;
    p->log_level = EDGELLM_LOG_INFO;
}

edgellm_status edgellm_model_open(const char *path, const edgellm_model_params *params,
                                  edgellm_model **out) {
    const char *where = "edgellm_model_open";
    if (out) *out = nullptr;
    if (!out) return bad_arg(where, "out is NULL");
    if (!path) return bad_arg(where, "path is NULL");
    if (params && !size_ok(params, offsetof(edgellm_model_params, opencl_row)))  // the 0.1 layout
        return set_error(EDGELLM_ERR_STRUCT_SIZE, strprintf("%s: params->struct_size %u is not a known size",
                                                            where, params->struct_size));
    return guard(where, [&] {
        edgellm_model_params d;
        edgellm_model_params_init(&d);
        edgellm_model_params p = read_params(params, d);
        if (p.backend < EDGELLM_BACKEND_AUTO || p.backend > EDGELLM_BACKEND_CPU_REFERENCE)
            fail(EDGELLM_ERR_INVALID_ARGUMENT, "unknown backend %d", p.backend);
        if (p.weights < EDGELLM_WEIGHTS_AUTO || p.weights > EDGELLM_WEIGHTS_Q4)
            fail(EDGELLM_ERR_INVALID_ARGUMENT, "unknown weights format %d", p.weights);
        ModelOpenOptions o;
        o.backend = p.backend;
        o.weights = p.weights;
        o.n_threads = p.n_threads;
        o.context_length = p.context_length;
        o.device_index = p.device_index;
        o.progress = p.progress_callback;
        o.progress_user_data = p.progress_user_data;
        o.log.callback = p.log_callback;
        o.log.user_data = p.log_user_data;
        o.log.level = p.log_level;
        if (p.opencl_row) o.opencl_row = p.opencl_row;
        if (p.opencl_tune) o.opencl_tune = p.opencl_tune;
        auto m = std::make_unique<edgellm_model>();
        m->impl = Model::open(path, o);
        *out = m.release();
        return EDGELLM_OK;
    });
}

void edgellm_model_close(edgellm_model *model) {
    try {
        delete model;
    } catch (...) {
    }
}

void edgellm_model_info_init(edgellm_model_info *info) {
    if (!info) return;
    std::memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
}

edgellm_status edgellm_model_get_info(const edgellm_model *model, edgellm_model_info *info) {
    if (!model) return bad_arg("edgellm_model_get_info", "model is NULL");
    if (!info) return bad_arg("edgellm_model_get_info", "info is NULL");
    if (!size_ok(info, sizeof(edgellm_model_info)))
        return set_error(EDGELLM_ERR_STRUCT_SIZE, "edgellm_model_get_info: bad struct_size");
    const Model &m = *model->impl;
    edgellm_model_info f;
    edgellm_model_info_init(&f);
    f.n_vocab = m.config.n_vocab;
    f.n_ctx_train = m.config.n_ctx_train;
    f.n_embd = m.config.n_embd;
    f.n_layer = m.config.n_layer;
    f.n_head = m.config.n_head;
    f.n_head_kv = m.config.n_head_kv;
    f.n_ff = m.config.n_ff;
    f.bos_token = m.bos_id;
    f.eos_token = m.eos_id;
    f.backend = std::strcmp(m.backend->name(), "opencl") == 0      ? EDGELLM_BACKEND_OPENCL
                : std::strcmp(m.backend->name(), "reference") == 0 ? EDGELLM_BACKEND_CPU_REFERENCE
                                                                   : EDGELLM_BACKEND_CPU;
    f.weights = m.weights_format;
    f.n_params = m.n_params;
    f.weight_bytes = m.weight_bytes;
    f.architecture = m.config.architecture.c_str();
    f.name = m.config.name.c_str();
    f.device_name = m.device_name.c_str();
    f.backend_note = m.backend_note.c_str();
    f.load_ms = m.load_ms;
    write_out(info, f);
    return EDGELLM_OK;
}

int32_t edgellm_model_n_vocab(const edgellm_model *m) { return m ? m->impl->config.n_vocab : 0; }
int32_t edgellm_model_context_length(const edgellm_model *m) { return m ? m->impl->config.n_ctx_train : 0; }
const char *edgellm_model_architecture(const edgellm_model *m) {
    return m ? m->impl->config.architecture.c_str() : nullptr;
}
int32_t edgellm_model_bos_token(const edgellm_model *m) { return m ? m->impl->bos_id : -1; }
int32_t edgellm_model_eos_token(const edgellm_model *m) { return m ? m->impl->eos_id : -1; }
int32_t edgellm_model_is_eog_token(const edgellm_model *m, int32_t t) { return m && m->impl->is_eog(t) ? 1 : 0; }
const char *edgellm_model_chat_template(const edgellm_model *m) {
    if (!m || m->impl->chat_template.empty()) return nullptr;
    return m->impl->chat_template.c_str();
}

/* ---- tokenizer ---- */

edgellm_status edgellm_tokenize(const edgellm_model *model, const char *text, size_t len,
                                uint32_t flags, int32_t *tokens, size_t capacity, size_t *n_tokens) {
    const char *where = "edgellm_tokenize";
    if (!model) return bad_arg(where, "model is NULL");
    if (!n_tokens) return bad_arg(where, "n_tokens is NULL");
    *n_tokens = 0;
    if (!text && len > 0) return bad_arg(where, "text is NULL");
    if (!tokens && capacity > 0) return bad_arg(where, "tokens is NULL with a non-zero capacity");
    return guard(where, [&] {
        std::string_view sv(text ? text : "", len);
        if (!utf8_valid(sv)) fail(EDGELLM_ERR_INVALID_UTF8, "text is not valid UTF-8");
        std::vector<int32_t> ids = need_tokenizer(model).encode(
            sv, (flags & EDGELLM_TOKENIZE_ADD_SPECIAL) != 0, (flags & EDGELLM_TOKENIZE_PARSE_SPECIAL) != 0);
        return copy_tokens(ids, tokens, capacity, n_tokens);
    });
}

edgellm_status edgellm_detokenize(const edgellm_model *model, const int32_t *tokens, size_t n,
                                  uint32_t flags, char *text, size_t capacity, size_t *len) {
    const char *where = "edgellm_detokenize";
    if (!model) return bad_arg(where, "model is NULL");
    if (!len) return bad_arg(where, "len is NULL");
    *len = 0;
    if (!tokens && n > 0) return bad_arg(where, "tokens is NULL");
    if (!text && capacity > 0) return bad_arg(where, "text is NULL with a non-zero capacity");
    return guard(where, [&] {
        const Tokenizer &t = need_tokenizer(model);
        for (size_t i = 0; i < n; ++i)
            if (tokens[i] < 0 || tokens[i] >= t.n_vocab())
                fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d at index %zu is outside [0, %d)", tokens[i], i, t.n_vocab());
        std::string s = sanitize_utf8(t.decode(tokens, n, (flags & EDGELLM_DETOKENIZE_SKIP_SPECIAL) != 0));
        return copy_text(s, text, capacity, len);
    });
}

edgellm_status edgellm_token_to_piece(const edgellm_model *model, int32_t token, char *buf,
                                      size_t capacity, size_t *len) {
    const char *where = "edgellm_token_to_piece";
    if (!model) return bad_arg(where, "model is NULL");
    if (!len) return bad_arg(where, "len is NULL");
    *len = 0;
    if (!buf && capacity > 0) return bad_arg(where, "buf is NULL with a non-zero capacity");
    return guard(where, [&] {
        const Tokenizer &t = need_tokenizer(model);
        if (token < 0 || token >= t.n_vocab())
            fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d is outside [0, %d)", token, t.n_vocab());
        return copy_text(t.token_piece(token), buf, capacity, len);
    });
}

/* ---- chat templates ---- */

edgellm_status edgellm_chat_apply_template(const edgellm_model *model, const char *tmpl,
                                           const edgellm_chat_message *messages, size_t n,
                                           int32_t add_generation_prompt, char *text,
                                           size_t capacity, size_t *len) {
    const char *where = "edgellm_chat_apply_template";
    if (!model) return bad_arg(where, "model is NULL");
    if (!len) return bad_arg(where, "len is NULL");
    *len = 0;
    if (!messages && n > 0) return bad_arg(where, "messages is NULL");
    if (!text && capacity > 0) return bad_arg(where, "text is NULL with a non-zero capacity");
    return guard(where, [&] {
        need_tokenizer(model);
        std::string s = render_chat(*model->impl, tmpl, to_messages(messages, n), add_generation_prompt != 0);
        return copy_text(s, text, capacity, len);
    });
}

/* ---- sessions ---- */

void edgellm_session_params_init(edgellm_session_params *p) {
    if (!p) return;
    std::memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
}

edgellm_status edgellm_session_create(edgellm_model *model, const edgellm_session_params *params,
                                      edgellm_session **out) {
    const char *where = "edgellm_session_create";
    if (out) *out = nullptr;
    if (!out) return bad_arg(where, "out is NULL");
    if (!model) return bad_arg(where, "model is NULL");
    if (params && !size_ok(params, sizeof(edgellm_session_params)))
        return set_error(EDGELLM_ERR_STRUCT_SIZE, strprintf("%s: params->struct_size %u is not a known size",
                                                            where, params->struct_size));
    return guard(where, [&] {
        edgellm_session_params d;
        edgellm_session_params_init(&d);
        edgellm_session_params p = read_params(params, d);
        if (p.n_ctx > (1u << 24)) fail(EDGELLM_ERR_INVALID_ARGUMENT, "n_ctx %u is too large", p.n_ctx);
        SessionOptions o;
        o.n_ctx = p.n_ctx;
        o.n_batch = p.n_batch;
        auto s = std::make_unique<edgellm_session>();
        s->impl = std::make_unique<Session>(*model->impl, o);
        *out = s.release();
        return EDGELLM_OK;
    });
}

void edgellm_session_free(edgellm_session *s) {
    try {
        delete s;
    } catch (...) {
    }
}

edgellm_status edgellm_session_reset(edgellm_session *s) {
    if (!s) return bad_arg("edgellm_session_reset", "session is NULL");
    s->impl->reset();
    return EDGELLM_OK;
}

size_t edgellm_session_n_tokens(const edgellm_session *s) { return s ? s->impl->tokens().size() : 0; }
size_t edgellm_session_n_ctx(const edgellm_session *s) { return s ? s->impl->n_ctx() : 0; }

edgellm_status edgellm_session_get_tokens(const edgellm_session *s, int32_t *tokens, size_t cap,
                                          size_t *n) {
    const char *where = "edgellm_session_get_tokens";
    if (!s) return bad_arg(where, "session is NULL");
    if (!n) return bad_arg(where, "n_tokens is NULL");
    if (!tokens && cap > 0) return bad_arg(where, "tokens is NULL with a non-zero capacity");
    return guard(where, [&] { return copy_tokens(s->impl->tokens(), tokens, cap, n); });
}

edgellm_status edgellm_session_truncate(edgellm_session *s, size_t n_keep) {
    if (!s) return bad_arg("edgellm_session_truncate", "session is NULL");
    s->impl->truncate(n_keep);
    return EDGELLM_OK;
}

void edgellm_session_cancel(edgellm_session *s) {
    if (s) s->impl->cancel();
}

edgellm_status edgellm_session_eval(edgellm_session *s, const int32_t *tokens, size_t n, float *logits) {
    const char *where = "edgellm_session_eval";
    if (!s) return bad_arg(where, "session is NULL");
    if (!tokens && n > 0) return bad_arg(where, "tokens is NULL");
    return guard(where, [&] {
        edgellm_status st = s->impl->eval(tokens, n, logits);
        if (st == EDGELLM_CONTEXT_FULL)
            set_error(st, strprintf("%s: %zu tokens do not fit: %zu of %zu positions used", where, n,
                                    s->impl->tokens().size(), s->impl->n_ctx()));
        if (st == EDGELLM_CANCELLED) set_error(st, std::string(where) + ": cancelled");
        return st;
    });
}

/* ---- generation ---- */

void edgellm_generate_params_init(edgellm_generate_params *p) {
    if (!p) return;
    *p = default_generate_params();
}

void edgellm_stats_init(edgellm_stats *st) {
    if (!st) return;
    std::memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
}

}  // extern "C"

namespace {

edgellm_status run_generation(edgellm_session *s, const char *where, const edgellm_generate_params *params,
                              edgellm_stream_callback cb, void *ud, edgellm_stats *stats,
                              const std::function<edgellm_status(const edgellm_generate_params &,
                                                                 const StreamFn &, edgellm_stats &)> &body) {
    if (!s) return bad_arg(where, "session is NULL");
    if (params && !size_ok(params, sizeof(edgellm_generate_params)))
        return set_error(EDGELLM_ERR_STRUCT_SIZE, strprintf("%s: params->struct_size %u is not a known size",
                                                            where, params->struct_size));
    if (stats && !size_ok(stats, sizeof(edgellm_stats)))
        return set_error(EDGELLM_ERR_STRUCT_SIZE, strprintf("%s: stats->struct_size %u is not a known size",
                                                            where, stats->struct_size));
    edgellm_stats full;
    edgellm_stats_init(&full);
    edgellm_status st = guard(where, [&] {
        edgellm_generate_params p = read_params(params, default_generate_params());
        if (p.n_stop > 0 && !p.stop) fail(EDGELLM_ERR_INVALID_ARGUMENT, "n_stop > 0 but stop is NULL");
        for (size_t i = 0; i < p.n_stop; ++i)
            if (p.stop[i] && !utf8_valid(p.stop[i]))
                fail(EDGELLM_ERR_INVALID_UTF8, "stop string %zu is not valid UTF-8", i);
        if (!(p.temperature >= 0.0f)) fail(EDGELLM_ERR_INVALID_ARGUMENT, "temperature must be >= 0");
        StreamFn fn;
        if (cb) fn = [cb, ud](const char *piece, size_t len, int32_t tok) { return cb(piece, len, tok, ud) == 0; };
        return body(p, fn, full);
    });
    if (st == EDGELLM_CANCELLED) set_error(st, std::string(where) + ": generation cancelled");
    if (st == EDGELLM_CONTEXT_FULL)
        set_error(st, strprintf("%s: the context of %zu tokens is full", where, s->impl->n_ctx()));
    if (st != EDGELLM_OK && st != EDGELLM_CANCELLED && st != EDGELLM_CONTEXT_FULL)
        full.stop_reason = EDGELLM_STOP_ERROR;
    if (stats) write_out(stats, full);
    return st;
}

}  // namespace

extern "C" {

edgellm_status edgellm_generate(edgellm_session *s, const char *prompt, const edgellm_generate_params *params,
                                edgellm_stream_callback cb, void *ud, edgellm_stats *stats) {
    return run_generation(s, "edgellm_generate", params, cb, ud, stats,
                           [&](const edgellm_generate_params &p, const StreamFn &fn, edgellm_stats &st) {
                               std::string_view text(prompt ? prompt : "");
                               // Generation streams text, so it needs a tokenizer even for an empty prompt.
                               const Model &m = s->impl->model();
                               if (!m.tokenizer) fail(EDGELLM_ERR_UNSUPPORTED, "this model has no tokenizer");
                               const Tokenizer &t = *m.tokenizer;
                               if (!utf8_valid(text)) fail(EDGELLM_ERR_INVALID_UTF8, "prompt is not valid UTF-8");
                               std::vector<int32_t> ids;
                               if (!text.empty()) {
                                   bool add_special = (p.tokenize_flags & EDGELLM_TOKENIZE_ADD_SPECIAL) &&
                                                      s->impl->tokens().empty();
                                   ids = t.encode(text, add_special,
                                                  (p.tokenize_flags & EDGELLM_TOKENIZE_PARSE_SPECIAL) != 0);
                               }
                               return s->impl->generate(ids, p, fn, st);
                           });
}

edgellm_status edgellm_chat(edgellm_session *s, const edgellm_chat_message *messages, size_t n,
                            const edgellm_generate_params *params, edgellm_stream_callback cb, void *ud,
                            edgellm_stats *stats) {
    if (!messages && n > 0) return bad_arg("edgellm_chat", "messages is NULL");
    return run_generation(s, "edgellm_chat", params, cb, ud, stats,
                          [&](const edgellm_generate_params &p, const StreamFn &fn, edgellm_stats &st) {
                              const Model &m = s->impl->model();
                              if (!m.tokenizer) fail(EDGELLM_ERR_UNSUPPORTED, "this model has no tokenizer");
                              std::string text = render_chat(m, nullptr, to_messages(messages, n), true);
                              // The template writes BOS itself: no add_special here (as HF's
                              // apply_chat_template(tokenize=True)).
                              std::vector<int32_t> ids = m.tokenizer->encode(text, false, true);
                              return s->impl->chat(ids, p, fn, st);
                          });
}

}  // extern "C"
