#!/usr/bin/env python3
"""Writes the tiny random Llama models under tests/data/tiny/ (deterministic: fixed seeds).

Hugging Face directories (config.json, generation_config.json, tokenizer.json,
tokenizer_config.json, safetensors written by hand here) and GGUF files (gguf-py's GGUFWriter;
Q4_0/Q4_1/Q8_0 quantized by gguf-py, Q4_K/Q6_K by the small quantizers below because gguf-py
only dequantizes K-quants). The tokenizer is a byte-level BPE trained with the `tokenizers`
package on the fixed text below. Run: python3 tests/tools/make_tiny_models.py [out_dir]
Then tests/tools/numpy_reference.py writes the goldens.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CORPUS = """The quick brown fox jumps over the lazy dog. A tiny model runs on the edge.
Small boards have a GPU and a CPU; the loader maps files and converts tensors one by one.
Hello world! Numbers 0123456789 and punctuation (like this), quotes "here" and 'there'.
Llama models use rotary position embeddings, grouped query attention and SwiGLU feed-forward
layers. Every weight is checked against an independent reference written in numpy.
""" * 4

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    return tok


# ---- configurations ----------------------------------------------------------------------------
def base_cfg(**kw):
    c = dict(n_embd=64, n_head=4, n_head_kv=2, head_dim=None, n_ff=160, n_layer=2, rope_theta=10000.0,
             rms_eps=1e-5, tied=False, rope_scaling=None, n_ctx=256)
    c.update(kw)
    return c


def make_weights(cfg, n_vocab, seed):
    rng = np.random.default_rng(seed)
    E, hd = cfg["n_embd"], cfg["head_dim"] or cfg["n_embd"] // cfg["n_head"]
    qd, kd, F = cfg["n_head"] * hd, cfg["n_head_kv"] * hd, cfg["n_ff"]
    w = {}
    n = lambda *s, std: (rng.standard_normal(s) * std).astype(np.float32)
    w["model.embed_tokens.weight"] = n(n_vocab, E, std=1.0)
    for l in range(cfg["n_layer"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = (1.0 + 0.2 * rng.standard_normal(E)).astype(np.float32)
        w[p + "post_attention_layernorm.weight"] = (1.0 + 0.2 * rng.standard_normal(E)).astype(np.float32)
        w[p + "self_attn.q_proj.weight"] = n(qd, E, std=0.25)
        w[p + "self_attn.k_proj.weight"] = n(kd, E, std=0.25)
        w[p + "self_attn.v_proj.weight"] = n(kd, E, std=0.2)
        w[p + "self_attn.o_proj.weight"] = n(E, qd, std=0.2)
        w[p + "mlp.gate_proj.weight"] = n(F, E, std=0.2)
        w[p + "mlp.up_proj.weight"] = n(F, E, std=0.2)
        w[p + "mlp.down_proj.weight"] = n(E, F, std=0.15)
    w["model.norm.weight"] = (1.0 + 0.2 * rng.standard_normal(E)).astype(np.float32)
    if not cfg["tied"]:
        w["lm_head.weight"] = n(n_vocab, E, std=0.5)
    return w


# ---- safetensors (hand-written) ----------------------------------------------------------------
def f32_to_bf16_bits(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def write_safetensors(path, tensors, dtype):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if dtype == "F32":
            b = a.astype("<f4").tobytes()
        elif dtype == "F16":
            b = a.astype("<f2").tobytes()
        else:
            b = f32_to_bf16_bits(a).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_hf_dir(d, cfg, w, n_vocab, dtype, tok, shards=1, eos=0, chat_jinja=False):
    os.makedirs(d, exist_ok=True)
    hd = cfg["head_dim"]
    conf = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": n_vocab,
        "hidden_size": cfg["n_embd"], "intermediate_size": cfg["n_ff"], "num_hidden_layers": cfg["n_layer"],
        "num_attention_heads": cfg["n_head"], "num_key_value_heads": cfg["n_head_kv"],
        "max_position_embeddings": cfg["n_ctx"], "rms_norm_eps": cfg["rms_eps"], "rope_theta": cfg["rope_theta"],
        "rope_scaling": cfg["rope_scaling"], "tie_word_embeddings": cfg["tied"], "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 0, "eos_token_id": 0,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
    }
    if hd is not None:
        conf["head_dim"] = hd
    json.dump(conf, open(os.path.join(d, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": 0, "eos_token_id": eos}, open(os.path.join(d, "generation_config.json"), "w"), indent=2)
    tok.save(os.path.join(d, "tokenizer.json"))
    tcfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|endoftext|>",
            "add_bos_token": False, "model_max_length": cfg["n_ctx"]}
    if chat_jinja:
        open(os.path.join(d, "chat_template.jinja"), "w").write(CHAT_TEMPLATE)
    else:
        tcfg["chat_template"] = CHAT_TEMPLATE
    json.dump(tcfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)
    names = sorted(w)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), w, dtype)
        return
    wm, total = {}, 0
    for s in range(shards):
        part = names[s::shards]
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(d, fn), {k: w[k] for k in part}, dtype)
        for k in part:
            wm[k] = fn
            total += w[k].size * (4 if dtype == "F32" else 2)
    json.dump({"metadata": {"total_size": total}, "weight_map": wm},
              open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)


# ---- K-quant encoders (gguf-py has only the decoders) -----------------------------------------
def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def quant_q4_k(x):
    """x: (rows, cols), cols % 256 == 0 → uint8 (rows, cols/256*144). x ≈ d*sc*q - dmin*m."""
    rows, cols = x.shape
    blocks = x.reshape(-1, 8, 32).astype(np.float32)
    out = np.zeros((blocks.shape[0], 144), np.uint8)
    mn = np.maximum(-blocks.min(axis=2), 0.0)                 # (nb, 8) offsets, >= 0
    sc = (blocks.max(axis=2) + mn) / 15.0
    d = f16(sc.max(axis=1) / 63.0).astype(np.float32)
    dmin = f16(mn.max(axis=1) / 63.0).astype(np.float32)
    sc_q = np.clip(np.rint(np.divide(sc, d[:, None], out=np.zeros_like(sc), where=d[:, None] > 0)), 0, 63).astype(np.uint8)
    m_q = np.clip(np.rint(np.divide(mn, dmin[:, None], out=np.zeros_like(mn), where=dmin[:, None] > 0)), 0, 63).astype(np.uint8)
    scale = d[:, None] * sc_q
    offs = dmin[:, None] * m_q
    q = np.clip(np.rint(np.divide(blocks + offs[:, :, None], scale[:, :, None],
                                  out=np.zeros_like(blocks), where=scale[:, :, None] > 0)), 0, 15).astype(np.uint8)
    out[:, 0:2] = f16(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = f16(dmin).view(np.uint8).reshape(-1, 2)
    s12 = np.zeros((blocks.shape[0], 12), np.uint8)
    for j in range(4):
        s12[:, j] = (sc_q[:, j] & 63) | ((sc_q[:, j + 4] >> 4) << 6)
        s12[:, j + 4] = (m_q[:, j] & 63) | ((m_q[:, j + 4] >> 4) << 6)
        s12[:, j + 8] = (sc_q[:, j + 4] & 0xF) | ((m_q[:, j + 4] & 0xF) << 4)
    out[:, 4:16] = s12
    for c in range(4):
        out[:, 16 + 32 * c:16 + 32 * (c + 1)] = q[:, 2 * c] | (q[:, 2 * c + 1] << 4)
    return out.reshape(rows, -1)


def quant_q6_k(x):
    """x: (rows, cols), cols % 256 == 0 → uint8 (rows, cols/256*210). x ≈ d*sc*(q-32)."""
    rows, cols = x.shape
    b = x.reshape(-1, 256).astype(np.float32)
    nb = b.shape[0]
    g = b.reshape(nb, 16, 16)
    s = np.abs(g).max(axis=2) / 31.0
    d = f16(s.max(axis=1) / 127.0).astype(np.float32)
    sc = np.clip(np.rint(np.divide(s, d[:, None], out=np.zeros_like(s), where=d[:, None] > 0)), -128, 127).astype(np.int8)
    step = d[:, None] * sc.astype(np.float32)
    q = np.clip(np.rint(np.divide(g, step[:, :, None], out=np.zeros_like(g), where=step[:, :, None] > 0)), -32, 31)
    q = (q + 32).astype(np.uint8).reshape(nb, 256)
    out = np.zeros((nb, 210), np.uint8)
    for half in range(2):
        e = q[:, 128 * half:128 * (half + 1)]
        ql = out[:, 64 * half:64 * (half + 1)]
        qh = out[:, 128 + 32 * half:128 + 32 * (half + 1)]
        ql[:, 0:32] = (e[:, 0:32] & 0xF) | ((e[:, 64:96] & 0xF) << 4)
        ql[:, 32:64] = (e[:, 32:64] & 0xF) | ((e[:, 96:128] & 0xF) << 4)
        qh[:, :] = ((e[:, 0:32] >> 4) | ((e[:, 32:64] >> 4) << 2) | ((e[:, 64:96] >> 4) << 4) | ((e[:, 96:128] >> 4) << 6))
    out[:, 192:208] = sc.view(np.uint8)
    out[:, 208:210] = f16(d).view(np.uint8).reshape(-1, 2)
    return out.reshape(rows, -1)


# ---- GGUF --------------------------------------------------------------------------------------
def permute_qk(w, n_head):
    """llama.cpp convert_hf_to_gguf.py's permutation of q/k rows (interleaved RoPE pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def encode(a, qt):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if qt == QT.F32:
        return a, None
    if qt == QT.F16:
        return a.astype(np.float16), None
    if qt == QT.Q4_K:
        return quant_q4_k(a), qt
    if qt == QT.Q6_K:
        return quant_q6_k(a), qt
    return gguf.quants.quantize(a, qt), qt


def llama3_freq_factors(cfg, hd):
    rs = cfg["rope_scaling"]
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    lo_w, hi_w = rs["original_max_position_embeddings"] / rs["low_freq_factor"], rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    out = []
    for f in inv:
        wl = 2 * np.pi / f
        if wl < hi_w:
            out.append(1.0)
        elif wl > lo_w:
            out.append(rs["factor"])
        else:
            smooth = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
            out.append(1.0 / ((1 - smooth) / rs["factor"] + smooth))
    return np.array(out, dtype=np.float32)


def write_gguf(path, cfg, w, tok, qtype, embd_qtype=None, down_qtype=None, name="tiny"):
    hd = cfg["head_dim"] or cfg["n_embd"] // cfg["n_head"]
    n_vocab = w["model.embed_tokens.weight"].shape[0]
    wr = gguf.GGUFWriter(path, "llama")
    wr.add_name(name)
    wr.add_block_count(cfg["n_layer"])
    wr.add_context_length(cfg["n_ctx"])
    wr.add_embedding_length(cfg["n_embd"])
    wr.add_feed_forward_length(cfg["n_ff"])
    wr.add_head_count(cfg["n_head"])
    wr.add_head_count_kv(cfg["n_head_kv"])
    wr.add_rope_freq_base(cfg["rope_theta"])
    wr.add_layer_norm_rms_eps(cfg["rms_eps"])
    wr.add_rope_dimension_count(hd)
    wr.add_vocab_size(n_vocab)
    if cfg["head_dim"] is not None:
        wr.add_key_length(hd)
        wr.add_value_length(hd)
    # tokenizer as llama.cpp stores a byte-level BPE
    vocab = tok.get_vocab()
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("gpt-2")
    wr.add_token_list(tokens)
    wr.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    wr.add_token_merges(merges)
    wr.add_bos_token_id(0)
    wr.add_eos_token_id(0)
    wr.add_eot_token_id(vocab["<|im_end|>"])
    wr.add_add_bos_token(False)
    wr.add_chat_template(CHAT_TEMPLATE)
    if cfg["rope_scaling"] is not None:
        wr.add_tensor("rope_freqs.weight", llama3_freq_factors(cfg, hd))

    def add(name, a, qt):
        data, raw = encode(a, qt)
        if raw is None:
            wr.add_tensor(name, data)
        else:
            wr.add_tensor(name, data, raw_dtype=raw)  # byte shape → element shape

    add("token_embd.weight", w["model.embed_tokens.weight"], embd_qtype or qtype)
    add("output_norm.weight", w["model.norm.weight"], QT.F32)
    if "lm_head.weight" in w:
        add("output.weight", w["lm_head.weight"], down_qtype or qtype)
    for l in range(cfg["n_layer"]):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        add(b + "attn_norm.weight", w[p + "input_layernorm.weight"], QT.F32)
        add(b + "ffn_norm.weight", w[p + "post_attention_layernorm.weight"], QT.F32)
        add(b + "attn_q.weight", permute_qk(w[p + "self_attn.q_proj.weight"], cfg["n_head"]), qtype)
        add(b + "attn_k.weight", permute_qk(w[p + "self_attn.k_proj.weight"], cfg["n_head_kv"]), qtype)
        add(b + "attn_v.weight", w[p + "self_attn.v_proj.weight"], qtype)
        add(b + "attn_output.weight", w[p + "self_attn.o_proj.weight"], qtype)
        add(b + "ffn_gate.weight", w[p + "mlp.gate_proj.weight"], qtype)
        add(b + "ffn_up.weight", w[p + "mlp.up_proj.weight"], qtype)
        add(b + "ffn_down.weight", w[p + "mlp.down_proj.weight"], down_qtype or qtype)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "tiny")
    out = os.path.abspath(out)
    if os.path.isdir(out):
        for e in os.listdir(out):
            if e != "goldens.json":
                p = os.path.join(out, e)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    os.makedirs(out, exist_ok=True)
    tok = train_tokenizer()
    n_vocab = tok.get_vocab_size()
    tok.save(os.path.join(out, "tokenizer.json"))

    a = base_cfg()                                     # untied, GQA 4/2, n_ff 160
    wa = make_weights(a, n_vocab, 1)
    t = base_cfg(tied=True, n_layer=2)
    wt = make_weights(t, n_vocab, 2)
    l3 = base_cfg(n_head=4, n_head_kv=1, head_dim=24, n_ff=96, n_layer=2, rope_theta=500000.0,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    w3 = make_weights(l3, n_vocab, 3)
    odd = base_cfg(n_ff=72, n_layer=3, tied=True)        # n_ff % 32 != 0: ffn_down falls back to F16
    wo = make_weights(odd, n_vocab, 4)
    k = base_cfg(n_embd=256, n_head=4, n_head_kv=2, n_ff=512, n_layer=1)
    wk = make_weights(k, n_vocab, 5)

    write_hf_dir(os.path.join(out, "hf_f32"), a, wa, n_vocab, "F32", tok)
    write_hf_dir(os.path.join(out, "hf_bf16_sharded"), a, wa, n_vocab, "BF16", tok, shards=3,
                 eos=[0, SPECIALS.index("<|im_end|>")])
    write_hf_dir(os.path.join(out, "hf_f16_tied"), t, wt, n_vocab, "F16", tok, chat_jinja=True)
    write_hf_dir(os.path.join(out, "hf_llama3_gqa"), l3, w3, n_vocab, "F32", tok)
    write_hf_dir(os.path.join(out, "hf_odd_ff"), odd, wo, n_vocab, "F16", tok)

    for qt in (QT.F32, QT.F16, QT.Q8_0, QT.Q4_0, QT.Q4_1):
        write_gguf(os.path.join(out, f"tiny_{qt.name.lower()}.gguf"), a, wa, tok, qt)
    write_gguf(os.path.join(out, "tiny_tied_q4_1.gguf"), t, wt, tok, QT.Q4_1, embd_qtype=QT.Q8_0)
    write_gguf(os.path.join(out, "tiny_llama3_f16.gguf"), l3, w3, tok, QT.F16)
    write_gguf(os.path.join(out, "tiny_q4_k.gguf"), k, wk, tok, QT.Q4_K, down_qtype=QT.Q6_K, embd_qtype=QT.Q6_K)
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {out}: vocab {n_vocab}, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
