#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

hf_dir: a micro Llama model (1 layer, hidden 8, f16, tied embeddings) with the tiny test
tokenizer, as the four parts fuzz_hf_dir.cpp splits its input into. chat_template: the Jinja
templates of tests/data (real model templates and single constructs). tokenize: strings of the
tokenizer corpus behind a selector byte. sampling: a few parameter blocks. The GGUF target is
seeded with tests/data/tiny/*.gguf by the scripts that run it. Standard library only; the output
is deterministic. Run from anywhere: python3 tests/fuzz/make_seeds.py
"""
import json
import os
import random
import struct
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "data")
SEP = b"\n#EDGELLM-FILE#\n"


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors):
    header, blob = {}, b""
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        data = b"".join(struct.pack("<e", random.uniform(-0.5, 0.5)) for _ in range(n))
        if name.endswith("norm.weight"):
            data = b"".join(struct.pack("<e", 1.0) for _ in range(n))
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def hf_dir():
    random.seed(26)
    v, d, ff = 384, 8, 16
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": v, "hidden_size": d,
              "intermediate_size": ff, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
              "max_position_embeddings": 64, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": None,
              "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float16"}
    p = "model.layers.0."
    weights = safetensors([("model.embed_tokens.weight", [v, d]), (p + "input_layernorm.weight", [d]),
                           (p + "self_attn.q_proj.weight", [d, d]), (p + "self_attn.k_proj.weight", [4, d]),
                           (p + "self_attn.v_proj.weight", [4, d]), (p + "self_attn.o_proj.weight", [d, d]),
                           (p + "post_attention_layernorm.weight", [d]), (p + "mlp.gate_proj.weight", [ff, d]),
                           (p + "mlp.up_proj.weight", [ff, d]), (p + "mlp.down_proj.weight", [d, ff]),
                           ("model.norm.weight", [d])])
    tok = open(os.path.join(DATA, "tiny", "tokenizer.json"), "rb").read()
    tok_cfg = open(os.path.join(DATA, "tiny", "hf_f32", "tokenizer_config.json"), "rb").read()
    cfg = json.dumps(config, indent=1).encode()
    put("hf_dir", "micro_llama", SEP.join([cfg, tok, tok_cfg, weights]))
    put("hf_dir", "micro_llama_no_tokenizer_config", SEP.join([cfg, tok, b"{}", weights]))
    rope = dict(config, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32})
    put("hf_dir", "micro_llama3_rope", SEP.join([json.dumps(rope).encode(), tok, tok_cfg, weights]))


def chat_templates():
    n = 0
    g = json.load(open(os.path.join(DATA, "tokenizer", "jinja_goldens.json")))
    for c in g["cases"]:
        put("chat_template", "construct_%02d" % n, c["template"])
        n += 1
    tdir = os.path.join(DATA, "tokenizer", "templates")
    for f in sorted(os.listdir(tdir)):
        put("chat_template", f, open(os.path.join(tdir, f), "rb").read())
    with tarfile.open(os.path.join(DATA, "tokenizers", "tokenizers.tar.xz")) as tar:
        for m in tar.getmembers():
            if m.name.endswith("tokenizer_config.json"):
                t = json.load(tar.extractfile(m)).get("chat_template")
                if isinstance(t, str):
                    put("chat_template", m.name.split("/")[0] + ".jinja", t)
    for name in ("llama3", "llama2", "chatml", "mistral"):
        put("chat_template", "builtin_" + name, name)


def tokenize():
    corpus = json.load(open(os.path.join(DATA, "tokenizer", "corpus.json")))
    for i, s in enumerate(corpus[:40]):
        put("tokenize", "text_%02d" % i, bytes([i % 256]) + s.encode())


def sampling():
    random.seed(7)
    for i in range(8):
        put("sampling", "params_%d" % i, bytes(random.randrange(256) for _ in range(64)) + b"Once upon a time")


if __name__ == "__main__":
    hf_dir()
    chat_templates()
    tokenize()
    sampling()
