# Tests of the binding on SmolLM2-135M-Instruct (Q4_1 GGUF, CPU backend): tokenizer round trips,
# chat templates, generation, streaming, callbacks (exceptions, Ctrl-C), cancellation, context
# limits and multi-turn chat reuse.
import os
import signal
import threading

import pytest

import edgellm

TEXTS = [
    "Hello, world!",
    "The capital of France is Paris.",
    "  leading and trailing spaces  ",
    "line one\nline two\n\n\ttabbed",
    "Ünïcödé — naïve café, 東京タワー, Москва, emoji 🦙🚀",
    "numbers 1234567890 and symbols ~!@#$%^&*()_+{}|:\"<>?",
    "a",
]


@pytest.mark.parametrize("text", TEXTS)
def test_tokenize_detokenize_round_trip(model, text):
    tokens = model.tokenize(text, add_special=False)
    assert tokens and all(0 <= t < model.n_vocab for t in tokens)
    assert model.detokenize(tokens) == text
    # token_to_piece gives the raw bytes of each token; together they are the text
    assert b"".join(model.token_to_piece(t) for t in tokens).decode("utf-8") == text


def test_tokenize_known_ids(model):
    # SmolLM2's GPT-2 style BPE: "Hello" is one token, " world" another, ids stable
    tokens = model.tokenize("Hello world", add_special=False)
    assert len(tokens) == 2
    assert model.token_to_piece(tokens[1]) == b" world"


def test_special_tokens(model):
    eos = model.eos_token
    assert eos >= 0 and model.is_eog(eos)
    im_end = model.tokenize("<|im_end|>", add_special=False, parse_special=True)
    assert len(im_end) == 1 and model.is_eog(im_end[0])
    literal = model.tokenize("<|im_end|>", add_special=False, parse_special=False)
    assert len(literal) > 1
    assert model.detokenize(im_end, skip_special=True) == ""
    assert model.detokenize(im_end) == "<|im_end|>"


def test_tokenizer_errors(model):
    with pytest.raises(edgellm.InvalidUtf8):
        model.tokenize(b"bad \xff\xfe utf-8")
    with pytest.raises(edgellm.InvalidToken):
        model.detokenize([model.n_vocab])
    with pytest.raises(edgellm.InvalidToken):
        model.token_to_piece(-1)
    assert model.tokenize("", add_special=False) == []
    assert model.detokenize([]) == ""


def test_long_text_needs_buffer_growth(model):
    text = "edge " * 3000
    tokens = model.tokenize(text, add_special=False)
    assert model.detokenize(tokens) == text


def test_model_info(model):
    info = model.info
    assert info.architecture == "llama" == model.architecture
    assert info.n_vocab == model.n_vocab == 49152
    assert info.n_layer == 30 and info.n_embd == 576
    assert info.backend == edgellm.Backend.CPU_REFERENCE and info.device_name.startswith("CPU")
    assert info.weight_bytes > 0 and info.n_params > 100_000_000
    assert model.context_length == info.n_ctx_train > 0


def test_chat_template(model):
    assert model.chat_template and "im_start" in model.chat_template
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    text = model.apply_chat_template(msgs)
    assert "<|im_start|>system\nBe brief.<|im_end|>" in text
    assert "<|im_start|>user\nHi there<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    no_prompt = model.apply_chat_template(msgs, add_generation_prompt=False)
    assert not no_prompt.endswith("<|im_start|>assistant\n")
    custom = model.apply_chat_template(
        msgs, template="{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}",
        add_generation_prompt=False)
    assert custom == "[system]Be brief.[user]Hi there"
    with pytest.raises(edgellm.TemplateError):
        model.apply_chat_template(msgs, template="{% for m in messages %}{{ m.content }")
    with pytest.raises(ValueError):
        model.apply_chat_template([{"role": "user"}])


GREEDY = dict(temperature=0, max_new_tokens=12, ignore_eos=True)


def test_greedy_generation_is_deterministic_and_consistent(model):
    with model.session(n_ctx=256) as a, model.session(n_ctx=256) as b:
        ra = a.generate("The capital of France is", **GREEDY)
        rb = b.generate("The capital of France is", **GREEDY)
        assert ra.text == rb.text and ra.text.strip()
        text, stats = ra  # unpacks as (text, stats)
        assert stats.stop_reason == edgellm.StopReason.MAX_TOKENS
        assert stats.n_generated_tokens == 12 == len(ra.tokens)
        prompt = model.tokenize("The capital of France is")
        assert stats.n_prompt_tokens == len(prompt)
        assert a.tokens == prompt + ra.tokens
        assert model.detokenize(ra.tokens) == ra.text
        assert stats.decode_tokens_per_second > 0 and stats.prefill_ms > 0
        assert stats.weight_bytes == model.info.weight_bytes


def test_logits_argmax_matches_greedy_token(model):
    prompt = model.tokenize("One, two, three,")
    with model.session(n_ctx=128) as s:
        logits = s.eval(prompt, logits=True)
        assert len(logits) == model.n_vocab
        assert len(s) == len(prompt)
        best = max(range(len(logits)), key=logits.__getitem__)
    with model.session(n_ctx=128) as s:
        r = s.generate("One, two, three,", temperature=0, max_new_tokens=1, ignore_eos=True)
        assert r.tokens == [best]


def test_streaming_callback_concatenation_equals_text(session):
    pieces = []
    r = session.generate("Once upon a time", on_piece=pieces.append, **GREEDY)
    assert "".join(pieces) == r.text and len(pieces) >= 2


def test_stream_iterator_equals_generate(model):
    with model.session(n_ctx=256) as s:
        expected = s.generate("The sky is", **GREEDY).text
    with model.session(n_ctx=256) as s:
        stream = s.stream("The sky is", **GREEDY)
        pieces = list(stream)
        assert "".join(pieces) == expected == stream.text
        assert stream.stats.n_generated_tokens == 12


def test_stream_early_break_cancels(session):
    stream = session.stream("Count: 1, 2, 3,", temperature=0, max_new_tokens=200, ignore_eos=True)
    got = []
    for piece in stream:
        got.append(piece)
        if len(got) == 3:
            break
    stream.close()
    n = len(session)
    assert n < 200  # stopped well before max_new_tokens
    # the session is usable afterwards and continues the same conversation
    r = session.generate(" and", temperature=0, max_new_tokens=2, ignore_eos=True)
    assert r.stats.n_generated_tokens == 2 and len(session) > n


class Boom(Exception):
    pass


def test_exception_in_callback_propagates_and_stops(session):
    calls = []

    def on_piece(piece):
        calls.append(piece)
        if len(calls) == 2:
            raise Boom("from the callback")

    with pytest.raises(Boom, match="from the callback"):
        session.generate("Hello", on_piece=on_piece, temperature=0, max_new_tokens=50,
                         ignore_eos=True)
    assert len(calls) == 2  # no callback after the raising one
    assert len(session) < 20  # stopped right away, not after 50 tokens
    r = session.generate(" again", temperature=0, max_new_tokens=2, ignore_eos=True)
    assert r.stats.n_generated_tokens == 2


def test_keyboard_interrupt_cancels_cleanly(session):
    """A real SIGINT during generation: the callback sees KeyboardInterrupt, returns non-zero,
    the C call returns CANCELLED and the KeyboardInterrupt reaches the caller."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    calls = []

    def on_piece(piece):
        calls.append(piece)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        session.generate("Hello", on_piece=on_piece, temperature=0, max_new_tokens=100,
                         ignore_eos=True)
    assert 2 <= len(calls) <= 3
    n = len(session)
    r = session.generate(" ok", temperature=0, max_new_tokens=1, ignore_eos=True)
    assert r.stats.n_generated_tokens == 1 and len(session) > n


def test_callback_return_value_stops(session):
    r = session.generate("Hello", on_piece=lambda p: True, temperature=0, max_new_tokens=50,
                         ignore_eos=True)
    assert r.cancelled and r.status == edgellm.Status.CANCELLED
    assert r.stats.n_generated_tokens <= 2


def test_cancel_from_another_thread(session):
    first = threading.Event()
    canceller = threading.Thread(target=lambda: (first.wait(30), session.cancel()))
    canceller.start()
    r = session.generate("Tell me a long story.", on_piece=lambda p: first.set(),
                         temperature=0, max_new_tokens=400, ignore_eos=True)
    canceller.join()
    assert r.stats.stop_reason == edgellm.StopReason.CANCELLED
    assert 1 <= r.stats.n_generated_tokens < 400


def test_context_full_is_reported_not_raised(model):
    with model.session(n_ctx=32) as s:
        assert s.n_ctx == 32
        r = s.generate("Hi", temperature=0, max_new_tokens=-1, ignore_eos=True)
        assert r.context_full and r.status == edgellm.Status.CONTEXT_FULL
        assert 0 < len(s) <= 32
        with pytest.raises(edgellm.ContextFull):
            s.eval(model.tokenize("x " * 40, add_special=False))
        s.reset()
        assert len(s) == 0 and s.tokens == []


def test_truncate_and_tokens(session, model):
    toks = model.tokenize("a b c d e f")
    session.eval(toks)
    assert session.tokens == toks
    session.truncate(2)
    assert session.tokens == toks[:2]


def test_eval_invalid_token_raises(session, model):
    with pytest.raises(edgellm.InvalidToken):
        session.eval([model.n_vocab + 5])
    assert len(session) == 0


def test_busy_session_rejects_a_second_call(session):
    inner = []

    def on_piece(piece):
        if not inner:
            with pytest.raises(edgellm.Error, match="busy"):
                session.generate("nested", max_new_tokens=1)
            inner.append(True)

    session.generate("Hi", on_piece=on_piece, temperature=0, max_new_tokens=2, ignore_eos=True)
    assert inner == [True]


def test_chat_and_prefix_reuse(model):
    with model.session(n_ctx=1024) as s:
        msgs = [{"role": "user", "content": "What is the capital of France?"}]
        first = s.chat(msgs, temperature=0, max_new_tokens=24)
        assert "Paris" in first.text
        assert first.stats.n_reused_tokens == 0
        prompt1 = model.tokenize(model.apply_chat_template(msgs))
        assert first.stats.n_prompt_tokens == len(prompt1)
        msgs += [{"role": "assistant", "content": first.text},
                 {"role": "user", "content": "And of Italy?"}]
        pieces = []
        second = s.chat(msgs, on_piece=pieces.append, temperature=0, max_new_tokens=24)
        assert "".join(pieces) == second.text
        assert second.stats.n_reused_tokens >= len(prompt1)
        assert "Rome" in second.text
        streamed = "".join(s.stream_chat(msgs[:1], temperature=0, max_new_tokens=24))
        assert streamed == first.text


def test_model_one_shot_helpers(model):
    r = model.generate("2 + 2 =", temperature=0, max_new_tokens=4, ignore_eos=True)
    assert r.stats.n_generated_tokens == 4
    c = model.chat([("user", "Say hi")], temperature=0, max_new_tokens=4)
    assert c.text


def test_seeded_sampling_is_reproducible(model):
    kw = dict(temperature=0.9, top_k=50, top_p=0.95, seed=1234, max_new_tokens=10,
              ignore_eos=True)
    with model.session(n_ctx=128) as a, model.session(n_ctx=128) as b:
        assert a.generate("Once", **kw).text == b.generate("Once", **kw).text


def test_stop_string_ends_generation(model):
    with model.session(n_ctx=256) as s:
        free = s.generate("1, 2, 3, 4,", temperature=0, max_new_tokens=12, ignore_eos=True)
    assert "," in free.text.strip()
    with model.session(n_ctx=256) as s:
        stopped = s.generate("1, 2, 3, 4,", temperature=0, max_new_tokens=12, ignore_eos=True,
                             stop=[","])
    assert stopped.stats.stop_reason == edgellm.StopReason.STRING
    assert "," not in stopped.text and free.text.startswith(stopped.text)


CHILD = r"""
import sys, edgellm
with edgellm.Model(sys.argv[1], backend="cpu") as m, m.session(n_ctx=512) as s:
    def show(piece):
        print("PIECE", flush=True)
    try:
        s.generate("Tell me a long story.", on_piece=show, temperature=0, max_new_tokens=400,
                   ignore_eos=True)
        print("NOT INTERRUPTED", flush=True)
    except KeyboardInterrupt:
        st = s.last_stats
        print("INTERRUPTED", st.stop_reason.name, st.n_generated_tokens, flush=True)
    r = s.generate(" The end.", temperature=0, max_new_tokens=2, ignore_eos=True)
    print("AFTER", r.stats.n_generated_tokens, flush=True)
"""


def test_ctrl_c_from_outside_cancels_generation(smol_path, tmp_path):
    """Ctrl-C sent to a process in the middle of generate(): KeyboardInterrupt reaches the caller,
    the generation was cancelled (not abandoned) and the session still works."""
    import subprocess
    import sys
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script), smol_path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(3):  # a few pieces in, well before 400 tokens
            assert proc.stdout.readline().startswith("PIECE")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in out.splitlines() if not ln.startswith("PIECE")]
    assert proc.returncode == 0, err
    assert lines[0].startswith("INTERRUPTED CANCELLED"), (lines, err)
    assert int(lines[0].split()[2]) < 400
    assert lines[1] == "AFTER 2"
    assert "Exception ignored" not in err
