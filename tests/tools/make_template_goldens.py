#!/usr/bin/env python3
"""Writes tests/data/templates/goldens.json: the real chat templates of the architecture families
(as llama.cpp keeps them in models/templates/, from the `llama-cpp-python` source package on
PyPI) rendered by transformers' own chat-template renderer over a set of conversations, with and
without the generation prompt.

The templates whose licences allow it (Apache-2.0: Qwen2.5, Qwen3, SmolLM3, Mistral-Nemo; MIT:
Phi-3.5, DeepSeek-R1-Distill-Qwen) are copied beside the goldens; Gemma 2's (Gemma terms of use)
is not: the test reads it from the unpacked source package in the cache folder, where this script
(or tests/tools/make_arch_models.py) puts it, and checks it by its FNV-1a hash.

Run (transformers 5, jinja2): python3 tests/tools/make_template_goldens.py
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile

import transformers
from transformers.utils.chat_template_utils import render_jinja_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "templates")
CACHE = os.path.join(os.environ.get("EDGELLM_CACHE_DIR", os.path.expanduser("~/.cache/edgellm")), "llama-cpp-python")
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"

# file in models/templates: (family, bos_token, eos_token, committed)
TEMPLATES = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": ("qwen2", None, "<|im_end|>", True),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": ("qwen2", "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
                                                       "<\uff5cend\u2581of\u2581sentence\uff5c>", True),
    "Qwen-Qwen3-0.6B.jinja": ("qwen3", None, "<|im_end|>", True),
    "google-gemma-2-2b-it.jinja": ("gemma2", "<bos>", "<eos>", False),
    "microsoft-Phi-3.5-mini-instruct.jinja": ("phi3", "<s>", "<|endoftext|>", True),
    "HuggingFaceTB-SmolLM3-3B.jinja": ("smollm3", None, "<|im_end|>", True),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": ("mistral", "<s>", "</s>", True),
}

CONVERSATIONS = [
    [{"role": "user", "content": "Name three planets."}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Count to three."}],
    [{"role": "system", "content": "Answer in French. /no_think"}, {"role": "user", "content": "Bonjour"},
     {"role": "assistant", "content": "Bonjour !"}, {"role": "user", "content": "Ça va ?"}],
    [{"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "<think>\nTwo plus two.\n</think>\n\nIt is 4."},
     {"role": "user", "content": "  And 3+3?  \n"}],
    [{"role": "user", "content": "Ünïcödé ✓ 日本語\n\nwith blank lines"}],
]


def fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def templates_dir():
    found = glob.glob(os.path.join(CACHE, "llama_cpp_python-*", "vendor", "llama.cpp", "models", "templates"))
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
    return glob.glob(os.path.join(CACHE, "llama_cpp_python-*", "vendor", "llama.cpp", "models", "templates"))[0]


def render(template, conversation, bos, eos, gen):
    kwargs = {}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    try:
        out, _ = render_jinja_template(conversations=[conversation], chat_template=template,
                                       add_generation_prompt=gen, **kwargs)
        return {"gen": gen, "text": out[0]}
    except Exception as e:  # raise_exception in the template: the test expects a TEMPLATE error
        return {"gen": gen, "error": str(e)}


def main():
    src = templates_dir()
    os.makedirs(OUT, exist_ok=True)
    models = {}
    for fname, (family, bos, eos, commit) in TEMPLATES.items():
        with open(os.path.join(src, fname), "rb") as f:
            raw = f.read()
        template = raw.decode("utf-8")
        if commit:
            shutil.copy(os.path.join(src, fname), os.path.join(OUT, fname))
        renders = [render(template, c, bos, eos, gen) for c in CONVERSATIONS for gen in (True, False)]
        models[fname] = {"family": family, "bos": bos or "", "eos": eos or "", "committed": commit,
                         "fnv1a64": f"{fnv1a64(raw):016x}", "renders": renders}
    doc = {"source": f"{LLAMA_CPP_PYTHON} vendor/llama.cpp/models/templates; rendered by transformers "
                     f"{transformers.__version__} render_jinja_template",
           "conversations": CONVERSATIONS, "templates": models}
    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
