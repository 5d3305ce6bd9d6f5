#!/usr/bin/env python3
"""Independent numpy (float64) implementation of Hugging Face LlamaForCausalLM inference, used to
write tests/data/tiny/goldens.json for the tiny models made by make_tiny_models.py.

It reads safetensors by hand (f32/f16/bf16) and GGUF through gguf-py (GGUFReader + its own
dequantizers), un-permuting llama.cpp's attn_q/attn_k rows back to Hugging Face order. The
forward pass: RMSNorm, rotate-half RoPE (llama3 / linear scaling or GGUF rope_freqs factors),
causal GQA attention, SwiGLU MLP, (tied) LM head. For every model it records, for fixed token
sequences, the logits after the last token and 16 greedy tokens, plus a few dequantized weight
rows for the loader tests. With --transformers it also runs transformers' LlamaForCausalLM on the
HF directories and records the max abs logit difference.
Writes goldens.json and goldens_api.txt.
Run: python3 tests/tools/numpy_reference.py [--transformers] [data_dir]
"""
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf.quants import dequantize
from tokenizers import Tokenizer

N_GREEDY = 16


# ---- readers ------------------------------------------------------------------------------------
def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = data[b:e]
        if t["dtype"] == "F32":
            a = np.frombuffer(buf, "<f4")
        elif t["dtype"] == "F16":
            a = np.frombuffer(buf, "<f2")
        elif t["dtype"] == "BF16":
            a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(t["dtype"])
        out[name] = a.astype(np.float64).reshape(t["shape"])
    return out


def load_hf(d):
    c = json.load(open(os.path.join(d, "config.json")))
    idx = os.path.join(d, "model.safetensors.index.json")
    w = {}
    if os.path.exists(idx):
        for fn in sorted(set(json.load(open(idx))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, fn)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    cfg = dict(n_embd=c["hidden_size"], n_head=c["num_attention_heads"],
               n_head_kv=c.get("num_key_value_heads", c["num_attention_heads"]), head_dim=hd,
               n_layer=c["num_hidden_layers"], rms_eps=c["rms_norm_eps"], rope_theta=c.get("rope_theta", 10000.0),
               tied=c.get("tie_word_embeddings", False) or "lm_head.weight" not in w,
               inv_freq=hf_inv_freq(c, hd))
    return cfg, w


def hf_inv_freq(c, hd):
    """transformers' default / linear / llama3 RoPE inverse frequencies (modeling_rope_utils)."""
    base = c.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    rs = c.get("rope_scaling")
    if not rs:
        return inv
    t = rs.get("rope_type", rs.get("type"))
    if t == "linear":
        return inv / rs["factor"]
    assert t == "llama3", t
    f, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    wl = 2 * np.pi / inv
    out = np.where(wl > old / lo, inv / f, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / f + smooth * out
    mid = ~(wl < old / hi) & ~(wl > old / lo)
    return np.where(mid, smoothed, out)


def unpermute(w, n_head):
    """Inverse of llama.cpp's permute: GGUF row h*hd + 2i + j → HF row h*hd + j*hd/2 + i."""
    rows = w.shape[0]
    hd = rows // n_head
    return w.reshape(n_head, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_gguf(path):
    r = gguf.GGUFReader(path)

    def field(k):
        f = r.fields.get(k)
        return None if f is None else f.contents()

    T = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        T[t.name] = a.reshape([int(x) for x in reversed(t.shape)]) if a.ndim > 1 or len(t.shape) > 1 else a.reshape(-1)
    n_head, n_kv = field("llama.attention.head_count"), field("llama.attention.head_count_kv")
    E = field("llama.embedding_length")
    hd = field("llama.attention.key_length") or E // n_head
    base = field("llama.rope.freq_base") or 10000.0
    inv = 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    if "rope_freqs.weight" in T:
        inv = inv / T["rope_freqs.weight"].astype(np.float64)
    L = field("llama.block_count")
    w = {"model.embed_tokens.weight": T["token_embd.weight"], "model.norm.weight": T["output_norm.weight"]}
    if "output.weight" in T:
        w["lm_head.weight"] = T["output.weight"]
    for l in range(L):
        b, p = f"blk.{l}.", f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = T[b + "attn_norm.weight"]
        w[p + "post_attention_layernorm.weight"] = T[b + "ffn_norm.weight"]
        w[p + "self_attn.q_proj.weight"] = unpermute(T[b + "attn_q.weight"], n_head)
        w[p + "self_attn.k_proj.weight"] = unpermute(T[b + "attn_k.weight"], n_kv)
        w[p + "self_attn.v_proj.weight"] = T[b + "attn_v.weight"]
        w[p + "self_attn.o_proj.weight"] = T[b + "attn_output.weight"]
        w[p + "mlp.gate_proj.weight"] = T[b + "ffn_gate.weight"]
        w[p + "mlp.up_proj.weight"] = T[b + "ffn_up.weight"]
        w[p + "mlp.down_proj.weight"] = T[b + "ffn_down.weight"]
    cfg = dict(n_embd=E, n_head=n_head, n_head_kv=n_kv, head_dim=hd, n_layer=L,
               rms_eps=field("llama.attention.layer_norm_rms_epsilon"), rope_theta=base,
               tied="lm_head.weight" not in w, inv_freq=inv)
    return cfg, w


# ---- forward ------------------------------------------------------------------------------------
def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, inv):
    """x: (n_tok, n_heads, hd); rotate-half pairs (i, i + hd/2)."""
    ang = pos[:, None] * inv[None, :]                       # (n_tok, hd/2)
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)[:, None, :]
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * cos + rot * sin


def forward(cfg, w, tokens):
    """Logits (n_tok, n_vocab) for every position of `tokens`, float64."""
    H, KV, hd = cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"]
    n = len(tokens)
    pos = np.arange(n, dtype=np.float64)
    x = w["model.embed_tokens.weight"][np.array(tokens)]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    for l in range(cfg["n_layer"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg["rms_eps"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(n, H, hd)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(n, KV, hd)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(n, KV, hd)
        q, k = rope(q, pos, cfg["inv_freq"]), rope(k, pos, cfg["inv_freq"])
        rep = H // KV
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)   # head h uses kv head h // rep
        att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", att, v).reshape(n, H * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], cfg["rms_eps"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], cfg["rms_eps"])
    head = w["model.embed_tokens.weight"] if cfg["tied"] else w["lm_head.weight"]
    return x @ head.T


def greedy(cfg, w, tokens, n_new):
    seq, out, margin = list(tokens), [], np.inf
    for _ in range(n_new):
        lg = forward(cfg, w, seq)[-1]
        top = np.argsort(lg)[::-1]
        margin = min(margin, lg[top[0]] - lg[top[1]])
        out.append(int(top[0]))
        seq.append(int(top[0]))
    return out, float(margin)


# ---- goldens ------------------------------------------------------------------------------------
MODELS = ["hf_f32", "hf_bf16_sharded", "hf_f16_tied", "hf_llama3_gqa", "hf_odd_ff",
          "tiny_f32.gguf", "tiny_f16.gguf", "tiny_q8_0.gguf", "tiny_q4_0.gguf", "tiny_q4_1.gguf",
          "tiny_tied_q4_1.gguf", "tiny_llama3_f16.gguf", "tiny_q4_k.gguf"]


def weight_rows(cfg, w):
    """A few dequantized rows (HF order) per tensor, named as our ModelWeights fields."""
    L = cfg["n_layer"] - 1
    pick = {"tok_embd": "model.embed_tokens.weight", "output": "lm_head.weight", "out_norm": "model.norm.weight",
            "layers.0.attn_norm": "model.layers.0.input_layernorm.weight",
            "layers.0.wq": "model.layers.0.self_attn.q_proj.weight",
            "layers.0.wk": "model.layers.0.self_attn.k_proj.weight",
            "layers.0.wv": "model.layers.0.self_attn.v_proj.weight",
            "layers.0.wo": "model.layers.0.self_attn.o_proj.weight",
            "layers.0.w_gate": "model.layers.0.mlp.gate_proj.weight",
            "layers.0.w_up": "model.layers.0.mlp.up_proj.weight",
            f"layers.{L}.w_down": f"model.layers.{L}.mlp.down_proj.weight",
            f"layers.{L}.ffn_norm": f"model.layers.{L}.post_attention_layernorm.weight"}
    out = {}
    for key, name in pick.items():
        if name not in w:
            continue
        a = w[name]
        if a.ndim == 1:
            out[key] = {"rows": [0], "values": [a.tolist()]}
            continue
        rows = sorted({0, 1, 5 % a.shape[0], a.shape[0] - 1})
        out[key] = {"rows": rows, "values": [a[r].astype(np.float32).tolist() for r in rows]}
    return out


def transformers_diff(d, seqs):
    import torch
    from transformers import LlamaForCausalLM
    m = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    cfg, w = load_hf(d)
    diff = 0.0
    with torch.no_grad():
        for s in seqs:
            ref = m(torch.tensor([s])).logits[0].double().numpy()
            diff = max(diff, float(np.abs(ref - forward(cfg, w, s)).max()))
    return diff


def block_vectors():
    """Random blocks of every GGUF type we decode, with gguf-py's dequantization of each (2 rows
    of 512 elements), for tests/unit/test_quant.cpp."""
    rng = np.random.default_rng(99)
    T = gguf.GGMLQuantizationType
    # (type, block elements, block bytes, byte offsets of fp16 scale fields)
    spec = [(T.Q4_0, 32, 18, [0]), (T.Q4_1, 32, 20, [0, 2]), (T.Q8_0, 32, 34, [0]),
            (T.Q4_K, 256, 144, [0, 2]), (T.Q5_K, 256, 176, [0, 2]), (T.Q6_K, 256, 210, [208])]
    out = {}
    for qt, be, bb, scale_offs in spec:
        nb = 2 * 512 // be
        raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
        for o in scale_offs:  # finite, moderate fp16 scales (random bits could be inf/nan)
            raw[:, o:o + 2] = (rng.uniform(0.001, 0.1, nb) * rng.choice([-1, 1], nb)).astype(np.float16).view(np.uint8).reshape(nb, 2)
        raw = raw.reshape(2, -1)
        vals = dequantize(raw, qt).astype(np.float32)
        out[qt.name] = {"hex": [bytes(r).hex() for r in raw], "values": vals.tolist()}
    bf = rng.standard_normal((2, 512)).astype(np.float32)
    bits = (bf.view(np.uint32) >> 16).astype(np.uint16)
    out["BF16"] = {"hex": [r.astype("<u2").tobytes().hex() for r in bits],
                   "values": (bits.astype(np.uint32) << 16).view(np.float32).tolist()}
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "..", "data", "tiny"))
    tok = Tokenizer.from_file(os.path.join(data, "tokenizer.json"))
    n_vocab = tok.get_vocab_size()
    rng = np.random.default_rng(1234)
    seqs = [tok.encode("The quick brown fox jumps over").ids,
            [int(x) for x in rng.integers(3, n_vocab, size=11)]]
    gold = {"generator": "tests/tools/numpy_reference.py", "n_greedy": N_GREEDY, "sequences": seqs, "models": {}}
    gold["blocks"] = block_vectors()
    for name in MODELS:
        path = os.path.join(data, name)
        cfg, w = load_gguf(path) if name.endswith(".gguf") else load_hf(path)
        entry = {"logits_last": [], "greedy": [], "greedy_min_margin": []}
        for s in seqs:
            entry["logits_last"].append(forward(cfg, w, s)[-1].astype(np.float32).tolist())
            g, mgn = greedy(cfg, w, s, N_GREEDY)
            entry["greedy"].append(g)
            entry["greedy_min_margin"].append(mgn)
        entry["weights"] = weight_rows(cfg, w)
        if "--transformers" in sys.argv and not name.endswith(".gguf"):
            entry["transformers_max_abs_diff"] = transformers_diff(path, seqs)
        gold["models"][name] = entry
        print(f"{name}: greedy {entry['greedy'][0][:8]}... min margin {min(entry['greedy_min_margin']):.4f}"
              + (f", transformers diff {entry['transformers_max_abs_diff']:.2e}" if "transformers_max_abs_diff" in entry else ""))
    with open(os.path.join(data, "goldens.json"), "w") as f:
        json.dump(gold, f, separators=(",", ":"))
    # The same logits / greedy tokens as plain text for tests/api/test_tiny_models.cpp, which sees
    # only the public header (no JSON parser): "model NAME", then per sequence "tokens N ids...",
    # "logits N values...", "greedy N ids...".
    with open(os.path.join(data, "goldens_api.txt"), "w") as f:
        for name, e in gold["models"].items():
            f.write(f"model {name}\n")
            for s_, lg, g in zip(seqs, e["logits_last"], e["greedy"]):
                f.write(f"tokens {len(s_)} " + " ".join(map(str, s_)) + "\n")
                f.write(f"logits {len(lg)} " + " ".join(f"{v:.7g}" for v in lg) + "\n")
                f.write(f"greedy {len(g)} " + " ".join(map(str, g)) + "\n")


if __name__ == "__main__":
    main()
