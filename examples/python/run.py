#!/usr/bin/env python3
"""run.py -- one prompt through an LLM with libedgellm's Python binding, streamed, with stats
(the `run.py` of the MLC-LLM recipe, redone over edgellm).

    python3 examples/python/run.py -m SmolLM2-135M-Instruct.Q4_1.gguf -p "What is an NPU?"
    python3 examples/python/run.py -m model.gguf -f prompt.txt --raw -n 128 --backend cpu

The prompt is sent as a user chat message (the model's chat template) unless --raw is given.
Ctrl-C stops generation cleanly and still prints the stats.
"""
import argparse
import sys
from pathlib import Path

try:
    import edgellm
except ImportError:  # running from a source checkout: use bindings/python next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
    import edgellm


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", help="GGUF file or Hugging Face directory")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("-p", "--prompt", help="prompt text")
    src.add_argument("-f", "--file", help="file holding the prompt ('-' = stdin)")
    ap.add_argument("-n", "--max-new-tokens", type=int, default=256)
    ap.add_argument("-s", "--system", help="system message (chat mode)")
    ap.add_argument("--raw", action="store_true", help="plain completion, no chat template")
    ap.add_argument("--backend", default="auto", choices=["auto", "cpu", "opencl"])
    ap.add_argument("--weights", default="auto", choices=["auto", "f32", "f16", "q8_0", "q4"])
    ap.add_argument("--device", type=int, default=-1, help="OpenCL device index (-1 = auto)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    ap.add_argument("--ctx", type=int, default=0, help="session context (0 = library default)")
    ap.add_argument("-t", "--temperature", type=float, default=0.7, help="0 = greedy")
    ap.add_argument("--top-k", type=int, default=40)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--repetition-penalty", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--devices", action="store_true", help="list OpenCL devices and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print library log lines")
    args = ap.parse_args(argv)
    if not args.devices and (args.model is None or (args.prompt is None and args.file is None)):
        ap.error("-m MODEL and one of -p PROMPT / -f FILE are required")
    return args


def read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None:
        return args.prompt
    if args.file == "-":
        return sys.stdin.read()
    return Path(args.file).read_text(encoding="utf-8")


def print_stats(stats: edgellm.Stats, info: edgellm.ModelInfo) -> None:
    mib = 1024 * 1024
    print(f"\n--- {info.name or info.architecture} on {info.device_name} "
          f"({info.weights.name if hasattr(info.weights, 'name') else info.weights}, "
          f"{info.weight_bytes / mib:.0f} MiB weights, loaded in {info.load_ms:.0f} ms)",
          file=sys.stderr)
    print(f"prefill: {stats.n_prompt_tokens} tok in {stats.prefill_ms:.0f} ms "
          f"({stats.prefill_tokens_per_second:.1f} tok/s), {stats.n_reused_tokens} reused",
          file=sys.stderr)
    print(f"decode:  {stats.n_generated_tokens} tok in {stats.decode_ms:.0f} ms "
          f"({stats.decode_tokens_per_second:.1f} tok/s), first token after "
          f"{stats.time_to_first_token_ms:.0f} ms", file=sys.stderr)
    print(f"stop: {stats.stop_reason.name.lower() if hasattr(stats.stop_reason, 'name') else stats.stop_reason}, "
          f"peak memory {stats.peak_memory_bytes / mib:.0f} MiB", file=sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.devices:
        for d in edgellm.devices():
            print(f"{d.index}: {d.name} ({d.platform_name}, {d.opencl_version}, "
                  f"{d.global_mem_bytes >> 20} MiB, fp16={d.has_fp16})")
        return 0
    prompt = read_prompt(args)
    log = (lambda level, msg: print(f"[{edgellm.LogLevel(level).name.lower()}] {msg}",
                                    file=sys.stderr)) if args.verbose else None
    sampling = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                    top_k=args.top_k, top_p=args.top_p,
                    repetition_penalty=args.repetition_penalty, seed=args.seed)

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    try:
        with edgellm.Model(args.model, backend=args.backend, weights=args.weights,
                           device_index=args.device, n_threads=args.threads, log=log) as model:
            info = model.info
            if info.backend_note:
                print(f"note: {info.backend_note}", file=sys.stderr)
            with model.session(n_ctx=args.ctx) as session:
                try:
                    if args.raw:
                        result = session.generate(prompt, on_piece=show, **sampling)
                    else:
                        messages = ([{"role": "system", "content": args.system}]
                                    if args.system else [])
                        messages.append({"role": "user", "content": prompt})
                        result = session.chat(messages, on_piece=show, **sampling)
                except KeyboardInterrupt:  # generation was cancelled cleanly by the binding
                    print("\n[interrupted]", file=sys.stderr)
                    if session.last_stats is not None:
                        print_stats(session.last_stats, info)
                    return 130
                print()
                if result.context_full:
                    print("[context full]", file=sys.stderr)
                print_stats(result.stats, info)
    except edgellm.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
