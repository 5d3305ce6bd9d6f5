/*
 * simple.c -- the smallest complete libedgellm program: open a model, stream a greedy or sampled
 * continuation of a prompt to stdout, print speed to stderr. C11 over the public C ABI only.
 * Usage: edgellm-simple MODEL [PROMPT] [MAX_NEW_TOKENS] [cpu|opencl|auto]
 */
#include <edgellm/edgellm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_piece(const char *piece, size_t len, int32_t token, void *user_data) {
    (void)token;
    (void)user_data;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop generation */
}

static int fail(const char *what, edgellm_status status) {
    fprintf(stderr, "%s: %s: %s\n", what, edgellm_status_string(status), edgellm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [PROMPT] [MAX_NEW_TOKENS] [cpu|opencl|auto]\n", argv[0]);
        return 2;
    }
    const char *prompt = argc > 2 ? argv[2] : "The capital of France is";
    int max_new = argc > 3 ? atoi(argv[3]) : 64;
    const char *backend = argc > 4 ? argv[4] : "auto";

    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    if (strcmp(backend, "cpu") == 0) {
        mp.backend = EDGELLM_BACKEND_CPU;
    } else if (strcmp(backend, "opencl") == 0) {
        mp.backend = EDGELLM_BACKEND_OPENCL;
    } else if (strcmp(backend, "auto") != 0) {
        fprintf(stderr, "unknown backend '%s'\n", backend);
        return 2;
    }

    edgellm_model *model = NULL;
    edgellm_status st = edgellm_model_open(argv[1], &mp, &model);
    if (st != EDGELLM_OK) return fail("open", st);

    edgellm_session *session = NULL;
    st = edgellm_session_create(model, NULL, &session);
    if (st != EDGELLM_OK) {
        edgellm_model_close(model);
        return fail("session", st);
    }

    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);
    gp.max_new_tokens = max_new;
    gp.temperature = 0.0f; /* greedy: the same output every run */

    edgellm_stats stats;
    edgellm_stats_init(&stats);
    fputs(prompt, stdout);
    st = edgellm_generate(session, prompt, &gp, on_piece, NULL, &stats);
    putchar('\n');
    int rc = 0;
    if (st == EDGELLM_OK || st == EDGELLM_CONTEXT_FULL || st == EDGELLM_CANCELLED) {
        fprintf(stderr, "[%s] prompt %llu tok, %.1f tok/s; generated %llu tok, %.1f tok/s\n",
                edgellm_status_string(st), (unsigned long long)stats.n_prompt_tokens,
                stats.prefill_tokens_per_second, (unsigned long long)stats.n_generated_tokens,
                stats.decode_tokens_per_second);
    } else {
        rc = fail("generate", st);
    }
    edgellm_session_free(session);
    edgellm_model_close(model);
    return rc;
}
