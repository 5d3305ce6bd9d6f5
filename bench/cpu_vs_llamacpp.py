#!/usr/bin/env python3
"""Side-by-side CPU benchmark: edgellm-bench (fast CPU backend) against llama.cpp's llama-bench on
the same GGUF with the same thread counts, interleaved round by round so that both see the same
machine load; prints medians and ratios and writes them as JSON.

llama.cpp is built once from the llama-cpp-python source package on PyPI (its vendor/llama.cpp)
into a cache folder, never into this repository. On x86-64 it is built for the CPU's ISA
extensions named explicitly (GGML_NATIVE=OFF) without AMX: where the kernel does not grant AMX
tile state (VMs), -march=native builds die with SIGILL in the AMX kernels.

usage: bench/cpu_vs_llamacpp.py --edgellm-bench BUILD/examples/bench/edgellm-bench -m MODEL.gguf
       [-t 1,2] [-p 64] [-n 64] [--rounds 5] [--llama-bench PATH] [--llama-args '--poll 0']
       [--out FILE.json]
"""
import argparse
import datetime
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile

LLAMA_CPP_PYTHON = "0.3.36"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def build_llama_bench(cache):
    exe = os.path.join(cache, "build", "bin", "llama-bench")
    if os.path.exists(exe):
        return exe
    os.makedirs(cache, exist_ok=True)
    src = glob.glob(os.path.join(cache, "llama_cpp_python-*", "vendor", "llama.cpp"))
    if not src:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:",
                                   f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", tmp])
            with tarfile.open(glob.glob(os.path.join(tmp, "*.tar.gz"))[0]) as t:
                t.extractall(cache)
        src = glob.glob(os.path.join(cache, "llama_cpp_python-*", "vendor", "llama.cpp"))
    cfg = ["cmake", "-S", src[0], "-B", os.path.join(cache, "build"), "-DCMAKE_BUILD_TYPE=Release",
           "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
           "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_OPENSSL=OFF"]
    if platform.machine() in ("x86_64", "AMD64"):
        f = cpu_flags()
        want = {"GGML_AVX": "avx", "GGML_AVX2": "avx2", "GGML_FMA": "fma", "GGML_F16C": "f16c",
                "GGML_BMI2": "bmi2", "GGML_AVX512": "avx512f", "GGML_AVX512_VBMI": "avx512vbmi",
                "GGML_AVX512_VNNI": "avx512_vnni", "GGML_AVX512_BF16": "avx512_bf16", "GGML_AVX_VNNI": "avx_vnni"}
        cfg.append("-DGGML_NATIVE=OFF")
        cfg += [f"-D{k}={'ON' if v in f else 'OFF'}" for k, v in want.items()]
    subprocess.check_call(cfg)
    subprocess.check_call(["cmake", "--build", os.path.join(cache, "build"), "--target", "llama-bench",
                           f"-j{os.cpu_count() or 1}"])
    return exe


def run_llama(exe, model, t, p, n, extra):
    out = subprocess.run([exe, "-m", model, "-t", str(t), "-p", str(p), "-n", str(n), "-r", "1", "-o", "json"] + extra,
                         check=True, capture_output=True, text=True).stdout
    res = {}
    for r in json.loads(out):
        res["prefill" if r["n_prompt"] else "decode"] = r["avg_ts"]
    return res


def run_edgellm(exe, model, t, p, n):
    out = subprocess.run([exe, "-m", model, "-b", "cpu", "-t", str(t), "-p", str(p), "-n", str(n), "-r", "1",
                          "-o", "json"], check=True, capture_output=True, text=True).stdout
    res = {}
    for r in json.loads(out):
        res["prefill" if r["test"].startswith("pp") else "decode"] = r["tokens_per_second"]
        res["device"] = r["device"]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgellm-bench", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("-p", type=int, default=64)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--llama-bench")
    ap.add_argument("--llama-args", default="", help="extra llama-bench arguments, e.g. '--poll 0'")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("EDGELLM_CACHE_DIR",
                                                                   os.path.expanduser("~/.cache/edgellm")), "llama.cpp"))
    ap.add_argument("--out")
    a = ap.parse_args()
    llama = a.llama_bench or build_llama_bench(a.cache)
    threads = [int(x) for x in a.threads.split(",")]
    raw = {t: {"edgellm": [], "llama.cpp": []} for t in threads}
    device = ""
    for rnd in range(a.rounds):
        for t in threads:
            order = ["edgellm", "llama.cpp"] if rnd % 2 == 0 else ["llama.cpp", "edgellm"]
            for who in order:
                if who == "edgellm":
                    r = run_edgellm(a.edgellm_bench, a.model, t, a.p, a.n)
                    device = r.pop("device")
                else:
                    r = run_llama(llama, a.model, t, a.p, a.n, a.llama_args.split())
                raw[t][who].append(r)
                print(f"round {rnd} t={t} {who}: prefill {r['prefill']:.1f} decode {r['decode']:.1f} tok/s",
                      file=sys.stderr)
    rows = []
    for t in threads:
        row = {"threads": t}
        for who in ("edgellm", "llama.cpp"):
            for k in ("prefill", "decode"):
                row[f"{who}_{k}_tok_s"] = statistics.median(r[k] for r in raw[t][who])
                row[f"{who}_{k}_all"] = [round(r[k], 2) for r in raw[t][who]]
        for k in ("prefill", "decode"):
            row[f"{k}_ratio"] = row[f"edgellm_{k}_tok_s"] / row[f"llama.cpp_{k}_tok_s"]
        rows.append(row)
    print(f"| threads | test | edgellm tok/s | llama.cpp tok/s | ratio |")
    print(f"|---|---|---:|---:|---:|")
    for r in rows:
        for k, name in (("prefill", f"pp{a.p}"), ("decode", f"tg{a.n}")):
            print(f"| {r['threads']} | {name} | {r[f'edgellm_{k}_tok_s']:.1f} | {r[f'llama.cpp_{k}_tok_s']:.1f} | "
                  f"{r[f'{k}_ratio']:.2f} |")
    if a.out:
        doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": platform.machine(), "cpu": next((l.split(":", 1)[1].strip() for l in
                                                            open("/proc/cpuinfo") if l.startswith("model name")), ""),
               "nproc": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
               "model": os.path.basename(a.model), "prefill_tokens": a.p, "decode_tokens": a.n,
               "edgellm_device": device, "llama_cpp": f"llama-cpp-python {LLAMA_CPP_PYTHON} vendor/llama.cpp",
               "llama_bench_args": a.llama_args,
               "method": "interleaved rounds, one repetition per tool per round; medians; edgellm decode "
                         "runs after its prefill (tg@p), llama-bench decode from an empty context",
               "results": rows}
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
