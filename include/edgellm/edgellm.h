/*
 * edgellm.h -- the stable C ABI of libedgellm: run Llama-family language models on the GPU
 * (OpenCL, designed for the Mali-G610 of the RK3588) or the CPU of small ARM boards.
 *
 * Usage (error handling shortened):
 *
 *     #include <edgellm/edgellm.h>
 *
 *     static int on_piece(const char *piece, size_t len, int32_t token, void *ud) {
 *         fwrite(piece, 1, len, stdout);
 *         return 0;                                  // non-zero stops generation
 *     }
 *
 *     edgellm_model *model = NULL;
 *     if (edgellm_model_open("SmolLM2-135M-Instruct.Q4_1.gguf", NULL, &model) != EDGELLM_OK) {
 *         fprintf(stderr, "%s\n", edgellm_last_error());
 *         return 1;
 *     }
 *     edgellm_session *session = NULL;
 *     edgellm_session_create(model, NULL, &session);
 *     edgellm_generate_params gp;
 *     edgellm_generate_params_init(&gp);
 *     gp.max_new_tokens = 128;
 *     edgellm_stats stats;
 *     edgellm_stats_init(&stats);
 *     edgellm_generate(session, "The capital of France is", &gp, on_piece, NULL, &stats);
 *     printf("\n%.1f tok/s\n", stats.decode_tokens_per_second);
 *     edgellm_session_free(session);
 *     edgellm_model_close(model);
 *
 * Conventions (all functions):
 *  - Every fallible function returns an edgellm_status. On failure a human-readable detail is
 *    available from edgellm_last_error() on the same thread. Nothing in this library calls
 *    abort() or exit(), and no C++ exception crosses this boundary.
 *  - Objects are opaque handles. Every create/open has a matching free/close; passing NULL to a
 *    free/close function is a no-op. Passing a NULL handle to any other function returns
 *    EDGELLM_ERR_INVALID_ARGUMENT (getters return 0, -1 or NULL as documented).
 *  - Parameter structs begin with `uint32_t struct_size`, are filled with defaults by their
 *    `_init` function, and are passed by pointer; NULL means "all defaults". Structs only ever
 *    grow at the end; the library reads or writes only the first `struct_size` bytes, so a
 *    program built against an older header keeps working with a newer library.
 *  - Strings are UTF-8. Text in, (const char *, size_t len) pairs are not NUL-terminated.
 *  - Output buffers follow one convention: the function writes at most `capacity` elements,
 *    always stores the number needed in `*n_out`, and returns EDGELLM_ERR_BUFFER_TOO_SMALL when
 *    `capacity` was too small (call again with a buffer of `*n_out`). Text outputs are
 *    NUL-terminated when `capacity > *n_out`; `*n_out` never counts the NUL.
 *
 * Thread safety: an edgellm_model is immutable once open and may be shared by any number of
 * sessions used on different threads at the same time. An edgellm_session must be used by one
 * thread at a time, except edgellm_session_cancel(), which any thread may call at any time.
 * Functions without a model or session argument are thread-safe.
 */
#ifndef EDGELLM_EDGELLM_H
#define EDGELLM_EDGELLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version, export and deprecation macros ------------------------------------------------ */

#define EDGELLM_VERSION_MAJOR 0 /* ABI major: the shared library's SOVERSION */
#define EDGELLM_VERSION_MINOR 1
#define EDGELLM_VERSION_PATCH 0
#define EDGELLM_VERSION_NUMBER \
    (EDGELLM_VERSION_MAJOR * 10000 + EDGELLM_VERSION_MINOR * 100 + EDGELLM_VERSION_PATCH)

#if defined(_WIN32)
#  if defined(EDGELLM_BUILDING_LIBRARY)
#    define EDGELLM_API __declspec(dllexport)
#  else
#    define EDGELLM_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define EDGELLM_API __attribute__((visibility("default")))
#else
#  define EDGELLM_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define EDGELLM_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#  define EDGELLM_DEPRECATED(msg)
#endif

/* "MAJOR.MINOR.PATCH" of the library in use (may differ from the header). Static string. Since 0.1. */
EDGELLM_API const char *edgellm_version(void);
/* EDGELLM_VERSION_NUMBER of the library in use. Since 0.1. */
EDGELLM_API uint32_t edgellm_version_number(void);

/* ---- Status codes ---------------------------------------------------------------------------
 * Values are explicit and never renumbered. Bands: 0-99 success and soft outcomes,
 * 100-199 caller errors, 200-299 model-file errors, 300-399 resource errors,
 * 400-499 device (OpenCL) errors, 900+ internal errors. */
typedef enum edgellm_status {
    EDGELLM_OK = 0,
    /* Soft outcomes: the call did what it could and the object stays fully usable. */
    EDGELLM_CANCELLED = 1,           /* a callback returned non-zero, or edgellm_session_cancel() */
    EDGELLM_CONTEXT_FULL = 2,        /* the session's context is full; reset or start a new one */
    EDGELLM_ERR_BUFFER_TOO_SMALL = 3,/* output buffer too small; *n_out holds the needed size */

    /* Caller errors. */
    EDGELLM_ERR_INVALID_ARGUMENT = 100, /* NULL handle or pointer, out-of-range value */
    EDGELLM_ERR_STRUCT_SIZE = 101,      /* struct_size is 0 or smaller than the 0.1 layout */
    EDGELLM_ERR_INVALID_UTF8 = 102,     /* text is not valid UTF-8 */
    EDGELLM_ERR_INVALID_TOKEN = 103,    /* a token id outside [0, n_vocab) */
    EDGELLM_ERR_TEMPLATE = 104,         /* chat template failed to parse or render */
    EDGELLM_ERR_UNSUPPORTED = 105,      /* a valid request this build or backend cannot do */

    /* Model-file errors. */
    EDGELLM_ERR_FILE_NOT_FOUND = 200,   /* path does not exist or cannot be opened */
    EDGELLM_ERR_IO = 201,               /* read or map failure */
    EDGELLM_ERR_INVALID_MODEL = 202,    /* malformed, truncated or inconsistent model file */
    EDGELLM_ERR_UNSUPPORTED_MODEL = 203,/* unknown architecture or tensor type */

    /* Resource errors. */
    EDGELLM_ERR_OUT_OF_MEMORY = 300,    /* host memory */

    /* Device errors. */
    EDGELLM_ERR_NO_DEVICE = 400,        /* no usable OpenCL platform or device */
    EDGELLM_ERR_DEVICE = 401,           /* an OpenCL call failed (the message names it) */
    EDGELLM_ERR_KERNEL_BUILD = 402,     /* an OpenCL program failed to build (log in message) */
    EDGELLM_ERR_DEVICE_OUT_OF_MEMORY = 403,

    EDGELLM_ERR_INTERNAL = 900
} edgellm_status;

/* Static English text for a status, never NULL ("unknown status" for unknown values). Since 0.1. */
EDGELLM_API const char *edgellm_status_string(edgellm_status status);

/* Detail of the last failure on the calling thread, or "" if none. The string stays valid until
 * the next libedgellm call on the same thread. Successful calls do not clear it. Since 0.1. */
EDGELLM_API const char *edgellm_last_error(void);

/* ---- Logging ------------------------------------------------------------------------------- */

typedef enum edgellm_log_level {
    EDGELLM_LOG_ERROR = 0,
    EDGELLM_LOG_WARN = 1,
    EDGELLM_LOG_INFO = 2,
    EDGELLM_LOG_DEBUG = 3
} edgellm_log_level;

/* Receives one log line (no trailing newline), valid only during the call. May be called from any
 * thread that is inside a libedgellm call. */
typedef void (*edgellm_log_callback)(int32_t level, const char *message, void *user_data);

/* Process-wide log sink for messages not tied to a model (NULL = discard; the default: the
 * library never writes to stderr on its own). Messages above max_level are dropped.
 * Thread-safe. Since 0.1. */
EDGELLM_API void edgellm_set_log_callback(edgellm_log_callback callback, void *user_data,
                                          int32_t max_level);

/* ---- Devices ------------------------------------------------------------------------------- */

typedef enum edgellm_backend {
    EDGELLM_BACKEND_AUTO = 0,   /* OpenCL GPU when one works, otherwise the CPU (logged) */
    EDGELLM_BACKEND_CPU = 1,    /* the fast CPU backend: SIMD kernels chosen from the CPU's
                                 * features, int8 products, fp16 KV cache (since 0.2; in 0.1 the
                                 * scalar reference) */
    EDGELLM_BACKEND_OPENCL = 2,
    EDGELLM_BACKEND_CPU_REFERENCE = 3 /* the scalar CPU reference the other backends are tested
                                       * against: slow, float KV cache. Since 0.2. */
} edgellm_backend;

typedef struct edgellm_device_info {
    uint32_t struct_size;
    uint32_t index;              /* global index over all platforms, as EDGELLM_OPENCL_DEVICE uses */
    char name[256];
    char vendor[256];
    char driver_version[128];
    char platform_name[256];
    char opencl_version[128];
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint32_t compute_units;
    uint32_t max_clock_mhz;
    int32_t is_gpu;
    int32_t has_fp16;            /* cl_khr_fp16 */
    int32_t unified_memory;      /* host and device share memory */
    int32_t has_subgroups;
} edgellm_device_info;

EDGELLM_API void edgellm_device_info_init(edgellm_device_info *info);

/* Number of OpenCL devices over all platforms (0 when there is no OpenCL platform: that is not
 * an error). Since 0.1. */
EDGELLM_API edgellm_status edgellm_device_count(size_t *count);
/* Fills `info` (struct_size set by the caller) for device `index`. Since 0.1. */
EDGELLM_API edgellm_status edgellm_device_get_info(size_t index, edgellm_device_info *info);

/* ---- Model --------------------------------------------------------------------------------- */

typedef struct edgellm_model edgellm_model;
typedef struct edgellm_session edgellm_session;

typedef enum edgellm_weights {
    EDGELLM_WEIGHTS_AUTO = 0, /* keep a quantized file's format; quantize f16/bf16/f32 to Q4 */
    EDGELLM_WEIGHTS_F32 = 1,
    EDGELLM_WEIGHTS_F16 = 2,
    EDGELLM_WEIGHTS_Q8_0 = 3, /* 8-bit, groups of 32, fp16 scale */
    EDGELLM_WEIGHTS_Q4 = 4    /* 4-bit, groups of 32, fp16 scale (+ optional fp16 minimum) */
} edgellm_weights;

/* Load progress in [0, 1]; return non-zero to cancel the load (edgellm_model_open then returns
 * EDGELLM_CANCELLED). Called on the opening thread. */
typedef int (*edgellm_progress_callback)(float progress, void *user_data);

typedef struct edgellm_model_params {
    uint32_t struct_size;
    int32_t backend;             /* edgellm_backend; default AUTO */
    int32_t weights;             /* edgellm_weights; default AUTO */
    int32_t n_threads;           /* CPU threads; 0 = number of cores */
    uint32_t context_length;     /* 0 = the model's own; otherwise overrides it */
    int32_t device_index;        /* OpenCL device (edgellm_device_count order); -1 = auto:
                                    EDGELLM_OPENCL_DEVICE (index or name substring), else the
                                    first GPU, else the first device */
    edgellm_progress_callback progress_callback;
    void *progress_user_data;
    edgellm_log_callback log_callback; /* log of this model and its sessions; NULL = global sink */
    void *log_user_data;
    int32_t log_level;           /* edgellm_log_level; default EDGELLM_LOG_INFO */
    /* Since 0.2: the OpenCL tuning row to run, by name ("mali-g610", "adreno", "nvidia", "cpu",
     * "generic"; docs/opencl-backend.md), instead of the one the device's name picks; NULL or ""
     * = EDGELLM_OPENCL_ROW, else by device. Copied during edgellm_model_open. */
    const char *opencl_row;
    /* Since 0.2: OpenCL tuning overrides "key=value,..." (docs/opencl-backend.md), applied after
     * the row and EDGELLM_OPENCL_TUNE; NULL = none. A malformed string fails the open with
     * EDGELLM_ERR_INVALID_ARGUMENT. Copied during edgellm_model_open. */
    const char *opencl_tune;
} edgellm_model_params;

/* Fills defaults (including struct_size). Since 0.1. */
EDGELLM_API void edgellm_model_params_init(edgellm_model_params *params);

/* Opens a model: a GGUF file, or a Hugging Face directory (config.json, *.safetensors,
 * tokenizer.json or tokenizer.model, tokenizer_config.json, generation_config.json).
 * `params` may be NULL (defaults). On success *out owns the model; close it with
 * edgellm_model_close after every session on it is freed. On failure *out is set to NULL.
 * Since 0.1. */
EDGELLM_API edgellm_status edgellm_model_open(const char *path, const edgellm_model_params *params,
                                              edgellm_model **out);
EDGELLM_API void edgellm_model_close(edgellm_model *model);

typedef struct edgellm_model_info {
    uint32_t struct_size;
    int32_t n_vocab;
    int32_t n_ctx_train;         /* context length (after the params override) */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t n_ff;
    int32_t bos_token;           /* -1 if none */
    int32_t eos_token;           /* the primary end-of-generation token, -1 if none */
    int32_t backend;             /* edgellm_backend actually in use (CPU or OPENCL) */
    int32_t weights;             /* edgellm_weights of the large matrices */
    uint64_t n_params;
    uint64_t weight_bytes;       /* bytes of weights as stored for the backend */
    const char *architecture;    /* e.g. "llama"; valid while the model is open */
    const char *name;            /* model name from metadata, "" if none */
    const char *device_name;     /* "CPU" or the OpenCL device name */
    const char *backend_note;    /* why AUTO fell back to the CPU, "" otherwise */
    double load_ms;
} edgellm_model_info;

EDGELLM_API void edgellm_model_info_init(edgellm_model_info *info);
/* Fills `info` (struct_size set by the caller). Strings live as long as the model. Since 0.1. */
EDGELLM_API edgellm_status edgellm_model_get_info(const edgellm_model *model,
                                                  edgellm_model_info *info);

/* Simple getters; 0 or -1 (ids) or NULL for a NULL model. Since 0.1. */
EDGELLM_API int32_t edgellm_model_n_vocab(const edgellm_model *model);
EDGELLM_API int32_t edgellm_model_context_length(const edgellm_model *model);
EDGELLM_API const char *edgellm_model_architecture(const edgellm_model *model);
EDGELLM_API int32_t edgellm_model_bos_token(const edgellm_model *model);
EDGELLM_API int32_t edgellm_model_eos_token(const edgellm_model *model);
/* 1 if `token` ends generation (EOS, EOT, <|im_end|>, any id in generation_config's
 * eos_token_id list), else 0. */
EDGELLM_API int32_t edgellm_model_is_eog_token(const edgellm_model *model, int32_t token);
/* The model's own Jinja chat template, or NULL if it carries none. Lives as long as the model. */
EDGELLM_API const char *edgellm_model_chat_template(const edgellm_model *model);

/* ---- Tokenizer ----------------------------------------------------------------------------- */

#define EDGELLM_TOKENIZE_ADD_SPECIAL 1u   /* add BOS/EOS as the tokenizer's config says */
#define EDGELLM_TOKENIZE_PARSE_SPECIAL 2u /* text like "<|eot_id|>" becomes the special token */

/* Tokenizes `len` bytes of UTF-8 `text` (NULL allowed when len == 0) into `tokens`.
 * Output-buffer convention above (EDGELLM_ERR_BUFFER_TOO_SMALL with the needed count).
 * EDGELLM_ERR_INVALID_UTF8 for invalid input. Thread-safe for a shared model. Since 0.1. */
EDGELLM_API edgellm_status edgellm_tokenize(const edgellm_model *model, const char *text, size_t len,
                                            uint32_t flags, int32_t *tokens, size_t capacity,
                                            size_t *n_tokens);

#define EDGELLM_DETOKENIZE_SKIP_SPECIAL 1u /* drop control tokens such as BOS/EOS */

/* Decodes tokens to UTF-8 text as Hugging Face `decode` does (the SentencePiece leading space of
 * the first token is removed). Invalid byte sequences (possible with byte tokens) are written as
 * U+FFFD. Output-buffer convention above. Since 0.1. */
EDGELLM_API edgellm_status edgellm_detokenize(const edgellm_model *model, const int32_t *tokens,
                                              size_t n_tokens, uint32_t flags, char *text,
                                              size_t capacity, size_t *len);

/* The raw bytes one token stands for in a stream (byte-level and byte-fallback tokens decoded,
 * "▁" as space; possibly part of a UTF-8 character; not NUL-terminated unless room). Output-buffer
 * convention above. Since 0.1. */
EDGELLM_API edgellm_status edgellm_token_to_piece(const edgellm_model *model, int32_t token,
                                                  char *buf, size_t capacity, size_t *len);

/* ---- Chat templates ------------------------------------------------------------------------ */

typedef struct edgellm_chat_message {
    const char *role;    /* "system", "user", "assistant" (others as the template allows) */
    const char *content; /* NUL-terminated UTF-8 */
} edgellm_chat_message;

/* Renders messages with a chat template into `text` (output-buffer convention above).
 * `template_source`: NULL = the model's own template, else a built-in one for its family;
 * "llama3", "llama2", "chatml", "mistral" = that built-in template; anything else is Jinja source.
 * `add_generation_prompt` non-zero appends the assistant header. EDGELLM_ERR_TEMPLATE with a
 * message naming the construct for templates outside the supported Jinja subset. Since 0.1. */
EDGELLM_API edgellm_status edgellm_chat_apply_template(const edgellm_model *model,
                                                       const char *template_source,
                                                       const edgellm_chat_message *messages,
                                                       size_t n_messages,
                                                       int32_t add_generation_prompt, char *text,
                                                       size_t capacity, size_t *len);

/* ---- Sessions ------------------------------------------------------------------------------ */

typedef struct edgellm_session_params {
    uint32_t struct_size;
    uint32_t n_ctx;     /* KV-cache positions; 0 = min(model context length, 4096) */
    uint32_t n_batch;   /* prompt tokens evaluated per step; 0 = 256 */
    int32_t n_threads;  /* CPU threads for this session; 0 = the model's */
} edgellm_session_params;

EDGELLM_API void edgellm_session_params_init(edgellm_session_params *params);

/* Creates a session (it owns a KV cache) on `model`; the model must outlive it. Since 0.1. */
EDGELLM_API edgellm_status edgellm_session_create(edgellm_model *model,
                                                  const edgellm_session_params *params,
                                                  edgellm_session **out);
EDGELLM_API void edgellm_session_free(edgellm_session *session);
/* Forgets all tokens (the KV cache is emptied). Since 0.1. */
EDGELLM_API edgellm_status edgellm_session_reset(edgellm_session *session);
/* Number of tokens the session holds (evaluated or pending), 0 for NULL. Since 0.1. */
EDGELLM_API size_t edgellm_session_n_tokens(const edgellm_session *session);
/* KV-cache capacity of the session in tokens, 0 for NULL. Since 0.1. */
EDGELLM_API size_t edgellm_session_n_ctx(const edgellm_session *session);
/* Copies the session's token history (output-buffer convention above). Since 0.1. */
EDGELLM_API edgellm_status edgellm_session_get_tokens(const edgellm_session *session,
                                                      int32_t *tokens, size_t capacity,
                                                      size_t *n_tokens);
/* Keeps the first `n_keep` tokens and drops the rest from the KV cache. Since 0.1. */
EDGELLM_API edgellm_status edgellm_session_truncate(edgellm_session *session, size_t n_keep);
/* Asks a running edgellm_eval/edgellm_generate on this session to stop at the next token; it then
 * returns EDGELLM_CANCELLED. Any thread may call this. The request is cleared when the next
 * eval/generate call begins. Since 0.1. */
EDGELLM_API void edgellm_session_cancel(edgellm_session *session);

/* Appends `n` tokens to the session and evaluates them (prefill). If `logits` is not NULL it
 * receives n_vocab floats: the logits after the last token. EDGELLM_CONTEXT_FULL (nothing
 * appended) when the tokens do not fit. Since 0.1. */
EDGELLM_API edgellm_status edgellm_session_eval(edgellm_session *session, const int32_t *tokens,
                                                size_t n, float *logits);

/* ---- Generation ---------------------------------------------------------------------------- */

#define EDGELLM_SEED_RANDOM UINT64_MAX

typedef struct edgellm_generate_params {
    uint32_t struct_size;
    int32_t max_new_tokens;     /* default 256; < 0 = until EOS or the context is full */
    float temperature;          /* default 0.7; 0 = greedy (argmax) */
    int32_t top_k;              /* default 40; 0 = off */
    float top_p;                /* default 0.95; 1 = off */
    float min_p;                /* default 0.05; 0 = off */
    float repetition_penalty;   /* default 1.0 (off); HF/CTRL-style divide/multiply */
    float frequency_penalty;    /* default 0 */
    float presence_penalty;     /* default 0 */
    int32_t penalty_last_n;     /* window of recent tokens for the penalties; default 64 */
    uint64_t seed;              /* default EDGELLM_SEED_RANDOM */
    const char *const *stop;    /* stop strings (not emitted); may be NULL */
    size_t n_stop;
    int32_t ignore_eos;         /* non-zero: keep generating past end-of-generation tokens */
    uint32_t tokenize_flags;    /* for the prompt; default ADD_SPECIAL | PARSE_SPECIAL.
                                   ADD_SPECIAL only applies when the session is empty. */
} edgellm_generate_params;

EDGELLM_API void edgellm_generate_params_init(edgellm_generate_params *params);

/* Why generation stopped (edgellm_stats.stop_reason). */
typedef enum edgellm_stop_reason {
    EDGELLM_STOP_NONE = 0,
    EDGELLM_STOP_EOS = 1,
    EDGELLM_STOP_MAX_TOKENS = 2,
    EDGELLM_STOP_STRING = 3,
    EDGELLM_STOP_CANCELLED = 4,
    EDGELLM_STOP_CONTEXT_FULL = 5,
    EDGELLM_STOP_ERROR = 6
} edgellm_stop_reason;

typedef struct edgellm_stats {
    uint32_t struct_size;
    int32_t stop_reason;          /* edgellm_stop_reason */
    uint64_t n_prompt_tokens;     /* prompt tokens evaluated by this call */
    uint64_t n_reused_tokens;     /* tokens already in the KV cache and not recomputed */
    uint64_t n_generated_tokens;
    double load_ms;               /* the model's load time */
    double prefill_ms;
    double decode_ms;
    double prefill_tokens_per_second;
    double decode_tokens_per_second;
    double time_to_first_token_ms;
    uint64_t weight_bytes;
    uint64_t peak_memory_bytes;   /* peak resident memory of the process */
} edgellm_stats;

EDGELLM_API void edgellm_stats_init(edgellm_stats *stats);

/* Receives generated text: `piece` holds whole UTF-8 characters (bytes of an unfinished character
 * are held back until it completes), `len` bytes, not NUL-terminated, valid only during the call.
 * `token` is the token that completed the piece. Return 0 to continue, non-zero to stop: the call
 * then returns EDGELLM_CANCELLED promptly and the session keeps everything generated so far. */
typedef int (*edgellm_stream_callback)(const char *piece, size_t len, int32_t token,
                                       void *user_data);

/* Tokenizes `prompt` (may be NULL or ""), appends it to the session and generates up to
 * max_new_tokens, streaming text through `callback` (may be NULL). A later call continues the
 * same conversation without re-processing earlier tokens. Returns EDGELLM_OK when generation ends
 * by EOS, max_new_tokens or a stop string; EDGELLM_CANCELLED when the callback or
 * edgellm_session_cancel stopped it; EDGELLM_CONTEXT_FULL when the context filled up (what was
 * generated was streamed and kept). `stats` may be NULL. On a GPU backend, greedy decoding issues
 * each token's forward pass before that token reaches the callback (the device computes while the
 * host streams), so after a stop that only the last token announces (EOS, a stop string, the
 * callback) the device may still be finishing one pass when the call returns; a following call on
 * the model waits behind it. The results do not depend on this. Since 0.1. */
EDGELLM_API edgellm_status edgellm_generate(edgellm_session *session, const char *prompt,
                                            const edgellm_generate_params *params,
                                            edgellm_stream_callback callback, void *user_data,
                                            edgellm_stats *stats);

/* Renders `messages` with the model's chat template (generation prompt appended), reuses the
 * longest prefix of the session's tokens that matches the rendered conversation (earlier turns
 * are not recomputed), evaluates the rest and generates the assistant's answer as
 * edgellm_generate does. Pass the whole conversation each turn, including earlier answers.
 * Since 0.1. */
EDGELLM_API edgellm_status edgellm_chat(edgellm_session *session,
                                        const edgellm_chat_message *messages, size_t n_messages,
                                        const edgellm_generate_params *params,
                                        edgellm_stream_callback callback, void *user_data,
                                        edgellm_stats *stats);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* EDGELLM_EDGELLM_H */
