#!/usr/bin/env python3
"""Writes tests/data/arch/: tiny random models of every architecture family the loaders map
(Qwen2, Qwen3, Gemma 2, Gemma 3, Phi-3, Mistral with a sliding window, SmolLM3), as Hugging Face
directories saved by `transformers` (with config_v4.json beside each config.json: the same model
in transformers 4's config form, checked to give the same goldens) and as GGUF files written by llama.cpp's own
convert_hf_to_gguf.py, plus goldens.txt: transformers' float32 logits and greedy tokens.

Each model uses the byte-level BPE of tests/data/tiny/tokenizer.json (384 tokens). Sizes are odd
where the family allows it, windows are shorter than the test prompts (so that the window
matters), and weights are stored in f32, f16 or bf16. The goldens are computed by transformers
(eager attention, float32) from the weights as saved: for each model and prompt, the logits after
the prompt, 16 greedy tokens (one token per forward through the KV cache, as the C test does)
and the logits after the last of them.

GGUF: the `llama-cpp-python` source package from PyPI carries llama.cpp (vendor/llama.cpp); this
script downloads it once into the cache folder and runs its convert_hf_to_gguf.py on the
directories (nothing of it is committed). Two things are patched for the run, both about the
tiny tokenizer rather than the model: the BPE pre-tokenizer check (the tiny tokenizer's hash is
not in llama.cpp's list; it is GPT-2's pre-tokenizer) and Gemma 2's vocabulary (the converter
wants a SentencePiece tokenizer.model; the tiny one is byte-level BPE). Where llama.cpp reads a
GGUF differently from the config (Gemma: attention scale 1/sqrt(head_dim) whatever
query_pre_attn_scalar says; SmolLM3: every fourth layer without RoPE and no window, whatever
no_rope_layers and use_sliding_window say),
the GGUF's goldens are computed by transformers with the config changed to what llama.cpp reads,
and with Gemma's norm weights as the GGUF holds them (the converter adds Gemma's 1 in the
checkpoint's dtype).

Run (Python 3.10+, torch CPU, transformers 5, safetensors, tokenizers, numpy, sentencepiece):
    python3 tests/tools/make_arch_models.py [out_dir]
"""
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile

import torch
import transformers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER = os.path.join(ROOT, "tests", "data", "tiny", "tokenizer.json")
CACHE = os.path.join(os.environ.get("EDGELLM_CACHE_DIR", os.path.expanduser("~/.cache/edgellm")), "llama-cpp-python")
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"

PROMPTS = [
    "The quick brown fox jumps over the lazy dog. A tiny model runs on the edge of",
    "Hello world! Numbers",
]
N_GREEDY = 16

COMMON = dict(vocab_size=384, bos_token_id=None, eos_token_id=0, pad_token_id=0, max_position_embeddings=256,
              rms_norm_eps=1e-6, attn_implementation="eager")

# name: (config class, config fields, dtype saved, GGUF outtype or None)
MODELS = {
    "qwen2": (transformers.Qwen2Config,
              dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=72, tie_word_embeddings=False, rope_theta=1000000.0),
              torch.bfloat16, "f16"),
    "qwen3": (transformers.Qwen3Config,
              dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   intermediate_size=56, tie_word_embeddings=True),
              torch.float16, "f16"),
    "gemma2": (transformers.Gemma2Config,
               dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                    intermediate_size=64, query_pre_attn_scalar=20, sliding_window=5,
                    attn_logit_softcapping=3.0, final_logit_softcapping=2.5),
               torch.bfloat16, "f16"),
    "gemma3": (transformers.Gemma3TextConfig,
               dict(hidden_size=32, num_hidden_layers=6, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                    intermediate_size=48, query_pre_attn_scalar=12, sliding_window=6,
                    rope_parameters={"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
               torch.bfloat16, "bf16"),
    # Gemma 3 4B and larger ship as this vision-language model; its text model is read from
    # text_config, the vision tower left out.
    "gemma3_vl": (lambda **f: transformers.Gemma3Config(
                      text_config={k: v for k, v in f.items() if k != "attn_implementation"},
                      vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=28, patch_size=14),
                      mm_tokens_per_image=4, boi_token_index=3, eoi_token_index=4, image_token_index=5,
                      attn_implementation="eager"),
                  dict(hidden_size=16, num_hidden_layers=6, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                       intermediate_size=40, sliding_window=7,
                       rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                                        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
                  torch.bfloat16, None),
    "phi3": (transformers.Phi3Config,
             dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=56, sliding_window=7, original_max_position_embeddings=64,
                  tie_word_embeddings=False,
                  rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                                   "short_factor": [1.0, 1.9, 4.5], "long_factor": [1.2, 3.5, 11.0]}),
             torch.bfloat16, "f16"),
    "mistral": (transformers.MistralConfig,
                dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                     intermediate_size=64, sliding_window=6, tie_word_embeddings=False),
                torch.float16, None),  # llama.cpp's converter drops the window: no GGUF
    "smollm3": (transformers.SmolLM3Config,
                dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=48, tie_word_embeddings=True, no_rope_layer_interval=2,
                     use_sliding_window=True, sliding_window=5),  # the NoPE layers slide
                torch.bfloat16, "f16"),
}


def init_weights(model, seed):
    """Random weights large enough that every part of the model moves the logits."""
    g = torch.Generator().manual_seed(seed)
    gemma = model.config.model_type.startswith("gemma")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                # Gemma multiplies by (1 + w): weights around 0; the others around 1.
                p.copy_((0.0 if gemma else 1.0) + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                # Small next to the layers' outputs, so that a tied output projection does not just
                # return the input token (Gemma scales the embedding by sqrt(hidden_size)).
                tied = model.config.tie_word_embeddings
                p.copy_(torch.randn(p.shape, generator=g) * (0.08 if gemma else 0.2 if tied else 0.4))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (0.8 / math.sqrt(p.shape[-1])))


def tokenizer_config(family):
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|endoftext|>",
           "add_bos_token": False, "model_max_length": 256}
    if family == "phi3":
        cfg["tokenizer_class"] = "GPT2Tokenizer"  # llama.cpp's Phi-3 converter reads a GPT-2 vocabulary from it
    return cfg


def load_f32(path, overrides=None):
    config = transformers.AutoConfig.from_pretrained(path)
    for k, v in (overrides or {}).items():
        setattr(config, k, v)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_pretrained(path, config=config, dtype=torch.float32,
                                                              attn_implementation="eager")
    model.eval()
    return model


# Gemma's norm weights in GGUF hold 1 + w, added by the converter in the checkpoint's dtype (so
# rounded for f16 / bf16 checkpoints): the GGUF's goldens use the values the file holds.
GEMMA_NORMS = {"input_layernorm": "attn_norm", "post_attention_layernorm": "post_attention_norm",
               "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
               "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}


def use_gguf_norms(model, gguf_path):
    import numpy as np
    from gguf import GGUFReader
    tensors = {t.name: np.array(t.data, dtype=np.float32) for t in GGUFReader(gguf_path).tensors}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "model.norm.weight":
                src = "output_norm.weight"
            elif name.endswith("norm.weight"):
                layer, rest = name[len("model.layers."):].split(".", 1)
                src = f"blk.{layer}.{GEMMA_NORMS[rest[:-len('.weight')]]}.weight"
            else:
                continue
            p.copy_(torch.from_numpy(tensors[src] - 1.0).reshape(p.shape))


def goldens(model, tok):
    """Per prompt: ids, logits after the prompt, greedy ids, logits after the last greedy id."""
    out = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = tok.encode(text).ids
            res = model(torch.tensor([ids]), use_cache=True)
            first = res.logits[0, -1].clone()
            logits, past, greedy = first, res.past_key_values, []
            for _ in range(N_GREEDY):
                nxt = int(torch.argmax(logits))
                greedy.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                logits, past = res.logits[0, -1], res.past_key_values
            # The same positions in one pass without the cache: the decode path agrees with prefill.
            full = model(torch.tensor([ids + greedy]), use_cache=False).logits[0, -1]
            assert torch.allclose(full, logits, atol=1e-4), "transformers' cached decode disagrees with prefill"
            out.append((ids, first.tolist(), greedy, logits.tolist()))
    return out


def write_goldens(f, name, runs, same_as=None):
    """same_as: (name, runs) of a model whose goldens these equal; written as an alias line."""
    if same_as is not None and same_as[1] == runs:
        f.write(f"alias {name} {same_as[0]}\n")
        return
    f.write(f"model {name}\n")
    for ids, first, greedy, last in runs:
        f.write(f"tokens {len(ids)} " + " ".join(map(str, ids)) + "\n")
        f.write(f"logits {len(first)} " + " ".join(f"{x:.5g}" for x in first) + "\n")
        f.write(f"greedy {len(greedy)} " + " ".join(map(str, greedy)) + "\n")
        f.write(f"logits_end {len(last)} " + " ".join(f"{x:.5g}" for x in last) + "\n")


def v4_config(family, cfg):
    """config.json as transformers 4 wrote it (the form of most checkpoints on the Hub): rope_theta
    and rope_scaling at the top level, Gemma 3's rope_local_base_freq and sliding_window_pattern,
    no layer_types; SmolLM3 without its no_rope_layers list (the interval then decides), Qwen2 with
    an unused window as Qwen2.5 ships it."""
    cfg = dict(cfg)
    rp = cfg.pop("rope_parameters", None)
    cfg.pop("layer_types", None)
    if family == "gemma3_vl":
        # As the Hub's Gemma 3 4B: text_config holds only what differs from Gemma3TextConfig.
        text = v4_config("gemma3", cfg.pop("text_config"))
        defaults = v4_config("gemma3", transformers.Gemma3TextConfig().to_dict())
        cfg["text_config"] = {k: v for k, v in text.items() if k == "model_type" or defaults.get(k, object()) != v}
        return cfg
    if family == "gemma3":
        full, local = rp["full_attention"], rp["sliding_attention"]
        cfg["rope_theta"] = full["rope_theta"]
        cfg["rope_local_base_freq"] = local["rope_theta"]
        if full["rope_type"] != "default":
            cfg["rope_scaling"] = {"rope_type": full["rope_type"], "factor": full["factor"]}
        cfg["sliding_window_pattern"] = cfg.pop("_sliding_window_pattern")
        return cfg
    rp = dict(rp)
    cfg["rope_theta"] = rp.pop("rope_theta")
    if "partial_rotary_factor" in rp:
        cfg["partial_rotary_factor"] = rp.pop("partial_rotary_factor")
    rope_type = rp.pop("rope_type")
    if rope_type != "default":
        rp.pop("original_max_position_embeddings", None)  # Phi-3 keeps it at the top level
        cfg["rope_scaling"] = {"type": rope_type, **rp}
    if family == "smollm3":
        cfg.pop("no_rope_layers")
    if family == "qwen2" and not cfg.get("use_sliding_window"):
        cfg.update(sliding_window=32, max_window_layers=1)
    return cfg


def check_v4(path, runs, tok):
    """transformers reads config_v4.json as the same model: the goldens do not change."""
    tmp = path + ".v4"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(path, tmp)
    shutil.copy(os.path.join(path, "config_v4.json"), os.path.join(tmp, "config.json"))
    try:
        again = goldens(load_f32(tmp), tok)
    finally:
        shutil.rmtree(tmp)
    for (ids, first, greedy, last), (_, first2, greedy2, last2) in zip(runs, again):
        assert greedy == greedy2 and max(abs(a - b) for a, b in zip(first + last, first2 + last2)) < 1e-5, path


def llama_cpp_dir():
    """vendor/llama.cpp of the llama-cpp-python source package, fetched once into the cache."""
    found = glob.glob(os.path.join(CACHE, "llama_cpp_python-*", "vendor", "llama.cpp"))
    if found:
        return found[0]
    os.makedirs(CACHE, exist_ok=True)
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                           LLAMA_CPP_PYTHON, "-d", CACHE])
    (sdist,) = glob.glob(os.path.join(CACHE, "llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as t:
        members = [m for m in t.getmembers() if "/vendor/llama.cpp/" in m.name and
                   ("/convert_hf_to_gguf.py" in m.name or "/gguf-py/" in m.name or "/conversion/" in m.name or
                    "/models/templates/" in m.name or "/models/ggml-vocab-" in m.name)]
        t.extractall(CACHE, members=members, filter="data")
    return glob.glob(os.path.join(CACHE, "llama_cpp_python-*", "vendor", "llama.cpp"))[0]


# Runs llama.cpp's converter in a child interpreter with the two tokenizer patches described above.
CONVERT = r"""
import runpy, sys
llama_cpp, src, dst, outtype = sys.argv[1:5]
sys.path[:0] = [llama_cpp, llama_cpp + "/gguf-py"]
from conversion import base, gemma
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
gemma.Gemma2Model.set_vocab = lambda self: self._set_vocab_gpt2()
sys.argv = ["convert_hf_to_gguf.py", src, "--outfile", dst, "--outtype", outtype]
runpy.run_path(llama_cpp + "/convert_hf_to_gguf.py", run_name="__main__")
"""


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "arch")
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer.from_file(TOKENIZER)
    llama_cpp = llama_cpp_dir()
    with open(os.path.join(out, "goldens.txt"), "w") as f:
        f.write(f"# transformers {transformers.__version__}, torch {torch.__version__}; made by tests/tools/make_arch_models.py\n")
        for seed, (name, (cls, fields, dtype, outtype)) in enumerate(MODELS.items()):
            torch.manual_seed(seed)
            config = cls(**{**COMMON, **fields})
            model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
            init_weights(model, 1000 + seed)
            path = os.path.join(out, "hf_" + name)
            shutil.rmtree(path, ignore_errors=True)
            model.to(dtype).save_pretrained(path)
            # A relative link to the one tiny tokenizer keeps the test data small.
            os.symlink(os.path.relpath(TOKENIZER, path), os.path.join(path, "tokenizer.json"))
            with open(os.path.join(path, "tokenizer_config.json"), "w") as tf:
                json.dump(tokenizer_config(name), tf, indent=2)
            hf_runs = goldens(load_f32(path), tok)
            write_goldens(f, "hf_" + name, hf_runs)
            with open(os.path.join(path, "config.json")) as cf:
                v4 = v4_config(name, json.load(cf))
            with open(os.path.join(path, "config_v4.json"), "w") as cf:
                json.dump(v4, cf, indent=2)
            check_v4(path, hf_runs, tok)
            if outtype is None:
                continue
            gguf_path = os.path.join(out, f"{name}_{outtype}.gguf")
            subprocess.check_call([sys.executable, "-c", CONVERT, llama_cpp, path, gguf_path, outtype])
            overrides = {}
            if name.startswith("gemma"):
                overrides["query_pre_attn_scalar"] = fields["head_dim"]
            if name == "smollm3":  # llama.cpp: every fourth layer without RoPE and no window, whatever the config says
                n = fields["num_hidden_layers"]
                overrides.update(no_rope_layers=[int((l + 1) % 4 != 0) for l in range(n)], use_sliding_window=False,
                                 sliding_window=None, layer_types=["full_attention"] * n)
            reference = load_f32(path, overrides)
            if name.startswith("gemma"):
                use_gguf_norms(reference, gguf_path)
            write_goldens(f, os.path.basename(gguf_path), goldens(reference, tok), ("hf_" + name, hf_runs))
            print(name, "done")


if __name__ == "__main__":
    main()
