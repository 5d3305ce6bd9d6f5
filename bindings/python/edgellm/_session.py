# Session of the edgellm binding: a KV cache on a Model, with eval, generate/chat (optionally
# streaming through a callback on the calling thread), stream/stream_chat (iterators fed by a
# worker thread) and cancel. One call at a time per session; cancel() works from any thread.
from __future__ import annotations

import array
import ctypes
import queue
import signal
import threading
from ctypes import byref, c_int32
from typing import Any, Callable, Iterator, List, Optional, Sequence

from . import _lib
from ._api import (Model, PieceCallback, _check, _encode, _L, _Messages, _new_struct, _read_buffer,
                   last_error)
from ._types import Generation, Message, Stats
from .errors import Cancelled, ContextFull, InvalidArgument, Status, error_for

_SAMPLING_KEYS = ("max_new_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                  "frequency_penalty", "presence_penalty", "penalty_last_n", "seed", "stop",
                  "ignore_eos", "add_special", "parse_special")


class _GenParams:
    """edgellm_generate_params built from keyword arguments over the library's defaults, with the
    stop strings kept alive for the duration of the call."""

    def __init__(self, sampling: dict) -> None:
        unknown = set(sampling) - set(_SAMPLING_KEYS)
        if unknown:
            raise TypeError(f"unknown sampling argument(s): {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(_SAMPLING_KEYS)})")
        p = _new_struct(_lib.GenerateParamsStruct, "edgellm_generate_params_init")
        for key in ("max_new_tokens", "top_k", "penalty_last_n"):
            if sampling.get(key) is not None:
                setattr(p, key, int(sampling[key]))
        for key in ("temperature", "top_p", "min_p", "repetition_penalty", "frequency_penalty",
                    "presence_penalty"):
            if sampling.get(key) is not None:
                setattr(p, key, float(sampling[key]))
        if "seed" in sampling:
            seed = sampling["seed"]
            p.seed = _lib.EDGELLM_SEED_RANDOM if seed is None else int(seed) & (2**64 - 1)
        if sampling.get("ignore_eos") is not None:
            p.ignore_eos = 1 if sampling["ignore_eos"] else 0
        flags = p.tokenize_flags
        for key, bit in (("add_special", _lib.EDGELLM_TOKENIZE_ADD_SPECIAL),
                         ("parse_special", _lib.EDGELLM_TOKENIZE_PARSE_SPECIAL)):
            if sampling.get(key) is not None:
                flags = (flags | bit) if sampling[key] else (flags & ~bit)
        p.tokenize_flags = flags
        stop = sampling.get("stop")
        if isinstance(stop, (str, bytes)):
            stop = [stop]
        self._stop_bytes = [_encode(s, "stop string") for s in (stop or [])]
        if self._stop_bytes:
            self._stop_array = (ctypes.c_char_p * len(self._stop_bytes))(*self._stop_bytes)
            p.stop = ctypes.cast(self._stop_array, ctypes.POINTER(ctypes.c_char_p))
            p.n_stop = len(self._stop_bytes)
        self.struct = p


class _Collector:
    """The C stream callback: decodes each piece, collects text and tokens, forwards pieces to
    `on_piece` and turns any exception (KeyboardInterrupt included) into a non-zero return."""

    def __init__(self, on_piece: Optional[PieceCallback]) -> None:
        self.on_piece = on_piece
        self.pieces: List[str] = []
        self.exc: Optional[BaseException] = None
        self.thunk = _lib.STREAM_CALLBACK(self._call)

    def _call(self, ptr, length, token, _ud) -> int:
        try:
            piece = ctypes.string_at(ptr, length).decode("utf-8", "replace") if length else ""
            self.pieces.append(piece)
            if self.on_piece is not None and self.on_piece(piece):
                return 1
            return 0
        except BaseException as exc:  # re-raised by Session._run after the C call returns
            self.exc = exc
            return 1


class _CancelOnSigint:
    """While a generation runs on the main thread with Python's default SIGINT handling, Ctrl-C
    cancels the session (edgellm_session_cancel, safe from a signal handler's context: it only sets
    a flag) instead of raising KeyboardInterrupt at an arbitrary point of a ctypes callback, where
    ctypes would swallow it. The caller raises KeyboardInterrupt once the C call has returned."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.interrupted = False
        self._previous = None

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = True
        _L().edgellm_session_cancel(self.handle)

    def __enter__(self) -> "_CancelOnSigint":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Session:
    """A conversation state (KV cache) on a Model. Create with `model.session()` or
    `Session(model, n_ctx=..., n_batch=..., n_threads=...)`; use as a context manager or call
    close(). Not for concurrent use, except `cancel()`, which any thread may call."""

    def __init__(self, model: Model, *, n_ctx: int = 0, n_batch: int = 0,
                 n_threads: int = 0) -> None:
        self._handle: Optional[int] = None
        self._busy = threading.Lock()
        self._owner: Optional[int] = None
        self.model = model  # keeps the model alive at least as long as the session
        params = _new_struct(_lib.SessionParamsStruct, "edgellm_session_params_init")
        params.n_ctx = int(n_ctx)
        params.n_batch = int(n_batch)
        params.n_threads = int(n_threads)
        handle = ctypes.c_void_p()
        _check(_L().edgellm_session_create(model._h, byref(params), byref(handle)))
        self._handle = handle.value
        model._sessions.add(self)
        self.last_stats: Optional[Stats] = None

    # -- lifetime
    def close(self) -> None:
        """Frees the session (cancelling and waiting for a running call first). Idempotent."""
        if self._handle is None:
            return
        if self._owner == threading.get_ident():
            raise InvalidArgument(Status.ERR_INVALID_ARGUMENT, "cannot close a session from its own callback")
        _L().edgellm_session_cancel(self._handle)
        with self._busy:
            if self._handle is not None:
                h, self._handle = self._handle, None
                _L().edgellm_session_free(h)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def _h(self) -> int:
        if self._handle is None:
            raise InvalidArgument(Status.ERR_INVALID_ARGUMENT, "the session is closed")
        return self._handle

    def _acquire(self) -> None:
        if not self._busy.acquire(blocking=False):
            raise InvalidArgument(Status.ERR_INVALID_ARGUMENT,
                        "the session is busy with another call (one call at a time per session)")
        self._owner = threading.get_ident()

    def _release(self) -> None:
        self._owner = None
        self._busy.release()

    # -- state
    @property
    def n_ctx(self) -> int:
        """KV-cache capacity in tokens."""
        return int(_L().edgellm_session_n_ctx(self._h))

    def __len__(self) -> int:
        return int(_L().edgellm_session_n_tokens(self._h))

    @property
    def n_tokens(self) -> int:
        """Number of tokens the session holds."""
        return len(self)

    @property
    def tokens(self) -> List[int]:
        """The session's token history."""
        h, lib = self._h, _L()
        buf, n = _read_buffer(lambda b, cap, n_out: lib.edgellm_session_get_tokens(
            h, b, cap, n_out), len(self) + 1, c_int32)
        return list(buf[:n])

    def reset(self) -> None:
        """Forgets all tokens."""
        self._acquire()
        try:
            _check(_L().edgellm_session_reset(self._h))
        finally:
            self._release()

    def truncate(self, n_keep: int) -> None:
        """Keeps the first `n_keep` tokens and drops the rest."""
        self._acquire()
        try:
            _check(_L().edgellm_session_truncate(self._h, int(n_keep)))
        finally:
            self._release()

    def cancel(self) -> None:
        """Asks a running eval/generate/chat on this session to stop at the next token (it then
        reports StopReason.CANCELLED). Safe from any thread; a no-op on a closed session."""
        if self._handle is not None:
            _L().edgellm_session_cancel(self._handle)

    def eval(self, tokens: Sequence[int], *, logits: bool = False) -> Optional[array.array]:
        """Appends `tokens` and evaluates them. Returns the logits after the last token (an
        array('f') of n_vocab floats) when `logits` is true, else None. Raises ContextFull when the
        tokens do not fit (nothing appended) and Cancelled when cancel() stopped it; neither is an
        edgellm.Error."""
        toks = list(tokens)
        arr = (c_int32 * max(len(toks), 1))(*toks)
        out = array.array("f", bytes(4 * self.model.n_vocab)) if logits else None
        out_ptr = None
        if out is not None:
            addr, _ = out.buffer_info()
            out_ptr = ctypes.cast(addr, ctypes.POINTER(ctypes.c_float))
        self._acquire()
        try:
            status = _check(_L().edgellm_session_eval(self._h, arr, len(toks), out_ptr))
        finally:
            self._release()
        if status == Status.CONTEXT_FULL:
            raise ContextFull(status, last_error() or "the tokens do not fit in the context")
        if status == Status.CANCELLED:
            raise Cancelled(status, "evaluation cancelled")
        return out

    # -- generation
    def _run(self, call: Callable[..., int], on_piece: Optional[PieceCallback]) -> Generation:
        collector = _Collector(on_piece)
        stats = _new_struct(_lib.StatsStruct, "edgellm_stats_init")
        self._acquire()
        try:
            with _CancelOnSigint(self._handle) as sigint:
                status = call(collector.thunk, byref(stats))
                message = last_error()
        finally:
            self._release()
        if sigint.interrupted and collector.exc is None:
            collector.exc = KeyboardInterrupt()
        if status not in (Status.OK, Status.CANCELLED, Status.CONTEXT_FULL):
            if collector.exc is not None:
                raise collector.exc
            raise error_for(status, message)
        # Stats of a call its callback stopped by raising are kept too (e.g. to report them after
        # Ctrl-C) before the exception propagates.
        self.last_stats = Stats.from_struct(stats)
        if collector.exc is not None:
            raise collector.exc
        # The generated ids are the session's last n_generated_tokens (the callback's tokens are
        # not all of them: a token that only starts a UTF-8 character completes no piece).
        n_gen = int(self.last_stats.n_generated_tokens)
        history = self.tokens if n_gen else []
        generated = history[max(len(history) - n_gen, 0):]
        return Generation("".join(collector.pieces), self.last_stats, generated, Status(status))

    def generate(self, prompt: str = "", *, on_piece: Optional[PieceCallback] = None,
                 **sampling: Any) -> Generation:
        """Appends `prompt` and generates; returns a Generation (unpacks as `(text, stats)`).

        `on_piece(piece)` is called on this thread with each piece of text (whole UTF-8
        characters); a truthy return stops generation, and an exception raised in it stops
        generation and propagates from here. Ctrl-C during generation cancels it cleanly and
        raises KeyboardInterrupt; the session keeps what was generated.

        Sampling keywords (library defaults when omitted): max_new_tokens, temperature (0 =
        greedy), top_k, top_p, min_p, repetition_penalty, frequency_penalty, presence_penalty,
        penalty_last_n, seed (None = random), stop (str or list of str), ignore_eos,
        add_special, parse_special. Hitting the context limit is not an error:
        `result.context_full` / `stats.stop_reason` report it."""
        params = _GenParams(sampling)
        data = _encode(prompt, "prompt")
        if b"\0" in data:
            raise ValueError("prompt contains a NUL character")
        h, lib = self._h, _L()
        return self._run(lambda cb, stats: lib.edgellm_generate(
            h, data, byref(params.struct), cb, None, stats), on_piece)

    def chat(self, messages: Sequence[Message], *, on_piece: Optional[PieceCallback] = None,
             **sampling: Any) -> Generation:
        """Generates the assistant's answer to `messages` ([{"role", "content"}, ...]), rendered
        with the model's chat template. Pass the whole conversation each turn; the matching prefix
        already in the session is reused. Callback and keywords as in generate()."""
        params = _GenParams(sampling)
        msgs = _Messages(messages)
        h, lib = self._h, _L()
        return self._run(lambda cb, stats: lib.edgellm_chat(
            h, msgs.array, msgs.n, byref(params.struct), cb, None, stats), on_piece)

    def stream(self, prompt: str = "", **sampling: Any) -> "Stream":
        """Like generate(), but returns an iterator of text pieces (see Stream)."""
        return Stream(self, lambda on_piece: self.generate(prompt, on_piece=on_piece, **sampling))

    def stream_chat(self, messages: Sequence[Message], **sampling: Any) -> "Stream":
        """Like chat(), but returns an iterator of text pieces (see Stream)."""
        return Stream(self, lambda on_piece: self.chat(messages, on_piece=on_piece, **sampling))


_DONE = object()


class Stream:
    """Iterator over generated pieces. Generation runs on a worker thread and hands pieces over a
    queue. Leaving the loop early (break, an exception, Ctrl-C, close()) cancels the generation and
    waits for it to stop. After the iteration, `result` holds the Generation (and `stats`,
    `text`); an error raised by the library is re-raised from the iteration."""

    def __init__(self, session: Session, run: Callable[[PieceCallback], Generation]) -> None:
        self.session = session
        self.result: Optional[Generation] = None
        self._run = run
        self._it = self._generator()

    @property
    def stats(self) -> Optional[Stats]:
        return self.result.stats if self.result else None

    @property
    def text(self) -> Optional[str]:
        return self.result.text if self.result else None

    def _generator(self) -> Iterator[str]:
        pieces: "queue.Queue[Any]" = queue.Queue()
        stop = threading.Event()
        outcome: dict = {}

        def on_piece(piece: str) -> bool:
            if stop.is_set():
                return True
            pieces.put(piece)
            return False

        def worker() -> None:
            try:
                outcome["result"] = self._run(on_piece)
            except BaseException as exc:
                outcome["exc"] = exc
            finally:
                pieces.put(_DONE)

        thread = threading.Thread(target=worker, name="edgellm-stream", daemon=True)
        thread.start()
        try:
            while True:
                item = pieces.get()
                if item is _DONE:
                    break
                yield item
        finally:
            if thread.is_alive():
                stop.set()
                self.session.cancel()
            thread.join()
        if "exc" in outcome:
            raise outcome["exc"]
        self.result = outcome["result"]

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> str:
        return next(self._it)

    def close(self) -> None:
        """Cancels the generation if it still runs and waits for it."""
        self._it.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
