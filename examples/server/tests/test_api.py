# edgellm-server driven by the official openai client: greedy answers equal edgellm_chat's and
# edgellm_generate's on a fresh session (through the Python binding), streamed and not; prefix reuse
# across turns; stop strings; concurrent clients; a client that disconnects; malformed requests;
# the queue limit.
import json
import socket
import threading
import time

import openai
import pytest

from conftest import TINY, reference_model, smollm2

QUESTIONS = ["Name three planets.", "What is the capital of France?", "Write a haiku about rain."]


def chat_ref(model_path, messages, max_tokens, **kw):
    return reference_model(model_path).chat(messages, max_new_tokens=max_tokens, temperature=0, **kw)


def chat(server, messages, stream=False, **kw):
    """(text, finish_reason, usage) of one chat completion through the openai client."""
    kw.setdefault("temperature", 0)
    if not stream:
        r = server.client.chat.completions.create(model="any", messages=messages, **kw)
        return r.choices[0].message.content, r.choices[0].finish_reason, r.usage
    text, finish, usage = "", None, None
    for ev in server.client.chat.completions.create(model="any", messages=messages, stream=True,
                                                    stream_options={"include_usage": True}, **kw):
        if ev.usage:
            usage = ev.usage
        for c in ev.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    return text, finish, usage


@pytest.mark.parametrize("name", ["tiny_q4_0.gguf", "tiny_llama3_f16.gguf", "hf_llama3_gqa", "smollm2"])
def test_greedy_chat_equals_edgellm_chat(start_server, name):
    path = smollm2() if name == "smollm2" else str(TINY / name)
    server = start_server(path)
    models = server.client.models.list().data
    assert len(models) == 1 and models[0].id == path.rsplit("/", 1)[-1]
    for i, q in enumerate(QUESTIONS[:2]):
        msgs = [{"role": "user", "content": q}]
        ref = chat_ref(path, msgs, 24)
        for stream in (False, True):
            text, finish, usage = chat(server, msgs, stream=stream, max_tokens=24)
            assert text == ref.text, (q, stream)
            assert usage.completion_tokens == ref.stats.n_generated_tokens
            assert usage.prompt_tokens == ref.stats.n_prompt_tokens + ref.stats.n_reused_tokens
            assert finish == ("length" if ref.stats.stop_reason.name in ("MAX_TOKENS", "CONTEXT_FULL")
                              else "stop")


def test_greedy_completion_equals_edgellm_generate(start_server):
    path = smollm2()
    server = start_server(path)
    for prompt in ["The capital of France is", "The capital of France is Paris. The capital of Italy is"]:
        ref = reference_model(path).generate(prompt, max_new_tokens=20, temperature=0)
        r = server.client.completions.create(model="any", prompt=prompt, max_tokens=20, temperature=0)
        assert r.choices[0].text == ref.text
        assert r.usage.completion_tokens == ref.stats.n_generated_tokens
        streamed = "".join(ev.choices[0].text for ev in server.client.completions.create(
            model="any", prompt=prompt, max_tokens=20, temperature=0, stream=True) if ev.choices)
        assert streamed == ref.text


def test_conversation_reuses_the_prefix(start_server):
    path = smollm2()
    server = start_server(path, "--parallel", "2")
    msgs = [{"role": "user", "content": QUESTIONS[0]}]
    text1, _, usage1 = chat(server, msgs, max_tokens=16)
    assert usage1.prompt_tokens_details.cached_tokens == 0
    msgs += [{"role": "assistant", "content": text1}, {"role": "user", "content": "And one more?"}]
    # Another conversation in between takes the other session, not the one holding this prefix.
    chat(server, [{"role": "user", "content": QUESTIONS[2]}], max_tokens=4)
    text2, _, usage2 = chat(server, msgs, max_tokens=16)
    assert usage2.prompt_tokens_details.cached_tokens >= usage1.prompt_tokens
    assert text2 == chat_ref(path, msgs, 16).text


def test_sampling_parameters_are_used(start_server):
    server = start_server(smollm2())
    msgs = [{"role": "user", "content": "Tell me a story about a robot."}]
    kw = dict(max_tokens=24, temperature=1.0, top_p=0.95, extra_body={"top_k": 40, "min_p": 0.05})
    a = chat(server, msgs, seed=7, **kw)[0]
    assert chat(server, msgs, seed=7, **kw)[0] == a  # the same seed, the same answer
    assert len({chat(server, msgs, seed=s, **kw)[0] for s in range(1, 5)} | {a}) > 1
    penal = chat(server, msgs, max_tokens=24, frequency_penalty=2.0, presence_penalty=2.0)[0]
    assert penal != chat(server, msgs, max_tokens=24)[0]


def test_stop_strings_and_length(start_server):
    path = smollm2()
    server = start_server(path)
    msgs = [{"role": "user", "content": QUESTIONS[0]}]
    full = chat_ref(path, msgs, 32).text
    stop = full[len(full) // 2:len(full) // 2 + 3]
    assert stop.strip() and full.index(stop) > 0, full
    for stream in (False, True):
        text, finish, _ = chat(server, msgs, stream=stream, max_tokens=32, stop=[stop, "never-seen"])
        assert (text, finish) == (full[:full.index(stop)], "stop")
        text, finish, usage = chat(server, msgs, stream=stream, max_tokens=3)
        assert finish == "length" and usage.completion_tokens == 3


def test_two_concurrent_clients(start_server):
    path = smollm2()
    refs = [chat_ref(path, [{"role": "user", "content": q}], 24).text for q in QUESTIONS[:2]]
    for parallel in ("2", "1"):  # two sessions at once; one session and a waiting request
        server = start_server(path, "--parallel", parallel)
        out = [None, None]
        peak = [0, 0]

        def client(i):
            out[i] = chat(server, [{"role": "user", "content": QUESTIONS[i]}], stream=True, max_tokens=24)[0]

        def watch():
            while any(o is None for o in out):
                h = server.health()
                peak[0] = max(peak[0], h["slots_processing"])
                peak[1] = max(peak[1], h["requests_waiting"])
                time.sleep(0.02)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        w = threading.Thread(target=watch)
        w.start()
        for t in threads:
            t.join()
        w.join()
        assert out == refs, parallel
        assert peak[0] == int(parallel)  # never more sessions busy than --parallel
        server.stop()


def long_request(stream=True):
    return {"messages": [{"role": "user", "content": "Count to one thousand."}], "max_tokens": 100000,
            "ignore_eos": True, "temperature": 0, "stream": stream}


def raw_post(server, body: dict) -> socket.socket:
    """Sends a request on a socket of its own and returns the socket without reading."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def test_client_disconnect_cancels_generation(start_server):
    server = start_server(smollm2(), "--ctx", "4096")
    # Streamed: read a few chunks through the openai client, then close the stream.
    stream = server.client.chat.completions.create(model="any", stream=True, **{
        k: v for k, v in long_request().items() if k not in ("stream", "ignore_eos")},
        extra_body={"ignore_eos": True})
    for i, _ in enumerate(stream):
        if i == 5:
            break
    assert server.health()["slots_processing"] == 1
    t0 = time.time()
    stream.close()
    assert server.wait_idle(5), "the generation went on after the client left"
    cancel_s = time.time() - t0
    # Not streamed: the client goes away while the answer is being generated.
    s = raw_post(server, long_request(stream=False))
    end = time.time() + 10
    while server.health()["slots_processing"] == 0 and time.time() < end:
        time.sleep(0.02)
    time.sleep(0.5)
    s.close()
    assert server.wait_idle(5), "the non-streamed generation went on after the client left"
    assert sum("client-left" in line for line in server.log) == 2, server.log[-5:]
    print(f"cancelled {cancel_s * 1000:.0f} ms after the stream closed")
    # The server goes on serving.
    assert chat(server, [{"role": "user", "content": "Hi"}], max_tokens=4)[1] == "length"


def test_malformed_requests(start_server):
    server = start_server(smollm2(), "--ctx", "256")
    bad = [
        b"{not json",
        b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',  # invalid UTF-8
        b"[1, 2]",
        b'{"messages": "hello"}',
        b'{"messages": []}',
        b'{"messages": [{"content": "no role"}]}',
        b'{"messages": [{"role": "user", "content": 5}]}',
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}',
        b'{"messages": [{"role": "user", "content": "x"}], "stop": 5}',
        b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
        b'{"messages": [{"role": "user", "content": "x"}], "n": 2}',
        b'{"prompt": "completions field on the chat endpoint"}',
    ]
    for body in bad:
        status, err = server.request("POST", "/v1/chat/completions", raw=body)
        assert status == 400, body
        assert err["error"]["type"] == "invalid_request_error" and err["error"]["message"], body
    assert server.request("POST", "/v1/completions", raw=b'{"prompt": ["a", "b"]}')[0] == 400
    assert server.request("GET", "/v1/nothing")[0] == 404
    # Through the openai client: wrong types and a prompt longer than the context.
    with pytest.raises(openai.BadRequestError) as e:
        server.client.chat.completions.create(model="any", messages=[{"role": "user", "content": "x"}],
                                              top_p=7)
    assert e.value.body["param"] == "top_p"
    with pytest.raises(openai.BadRequestError) as e:
        server.client.chat.completions.create(model="any", messages=[{"role": "user", "content": "word " * 400}])
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        server.client.completions.create(model="any", prompt="word " * 400)
    # Unknown fields are ignored, and the server keeps serving.
    r = server.client.chat.completions.create(
        model="whatever", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0, user="kiosk-1",
        extra_body={"unknown_field": {"nested": [1, 2]}, "logit_bias": None})
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 4
    assert server.health()["status"] == "ok"


def test_queue_limit(start_server):
    server = start_server(smollm2(), "--parallel", "1", "--queue", "1")
    running = raw_post(server, long_request())
    end = time.time() + 30
    while time.time() < end and server.health()["slots_processing"] < 1:
        time.sleep(0.02)
    waiting = raw_post(server, long_request())
    while time.time() < end:
        h = server.health()
        if h["slots_processing"] == 1 and h["requests_waiting"] == 1:
            break
        time.sleep(0.02)
    assert (h["slots_processing"], h["requests_waiting"]) == (1, 1)
    with pytest.raises(openai.InternalServerError) as e:
        server.client.chat.completions.create(model="any", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503 and e.value.body["code"] == "server_busy"
    # The waiting request holds its place: it is sent ': waiting' comments until the other ends.
    waiting.settimeout(10)
    assert b": waiting" in waiting.recv(4096) + waiting.recv(4096)
    running.close()
    waiting.close()
    assert server.wait_idle(10)
    assert chat(server, [{"role": "user", "content": "Hi"}], max_tokens=2)[1] == "length"


def test_sigterm_cancels_running_generations(start_server):
    server = start_server(smollm2(), "--parallel", "1", "--queue", "2")
    running = raw_post(server, long_request())
    end = time.time() + 30
    while time.time() < end and server.health()["slots_processing"] < 1:
        time.sleep(0.02)
    waiting = raw_post(server, long_request(stream=False))
    while time.time() < end and server.health()["requests_waiting"] < 1:
        time.sleep(0.02)
    t0 = time.time()
    server.proc.terminate()
    server.proc.wait(10)
    print(f"stopped {1000 * (time.time() - t0):.0f} ms after SIGTERM")
    for sock in (running, waiting):  # each response ends with an error naming the shutdown
        sock.settimeout(5)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        assert b"the server is shutting down" in received, received[-300:]
        sock.close()


def test_cors_origin_and_kiosk_page(start_server):
    import urllib.request
    server = start_server(str(TINY / "tiny_q4_0.gguf"), "--cors-origin", "http://kiosk.local")
    req = urllib.request.Request(server.url + "/v1/chat/completions", method="OPTIONS",
                                 headers={"Origin": "http://kiosk.local", "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "http://kiosk.local"
    with urllib.request.urlopen(server.url + "/") as r:
        page = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html") and "/v1/chat/completions" in page
    plain = start_server(str(TINY / "tiny_q4_0.gguf"), "--no-ui")
    assert plain.request("GET", "/")[0] == 404
    with urllib.request.urlopen(plain.url + "/health") as r:
        assert "Access-Control-Allow-Origin" not in r.headers
