# The pythonic API of the edgellm binding: Model (a loaded model; tokenizer; chat templates),
# Session (KV cache; eval, generate, stream, chat, cancel) and module functions (version, devices,
# logging). Callbacks run on the thread that called into the library; an exception raised inside
# one (KeyboardInterrupt included) makes the callback return non-zero, which cancels the C call
# cleanly, and is then re-raised to the caller once the library has returned.
from __future__ import annotations

import ctypes
import os
import weakref
from ctypes import byref, c_int32, c_size_t
from typing import Any, Callable, Iterable, List, Optional, Sequence, Union

from . import _lib
from ._types import (Backend, DeviceInfo, Generation, LogLevel, Message, ModelInfo, Weights,
                     to_enum)
from .errors import Cancelled, Error, InvalidArgument, Status, error_for

PieceCallback = Callable[[str], Any]

# ---- helpers ------------------------------------------------------------------------------------


def _L() -> ctypes.CDLL:
    return _lib.lib()


def last_error() -> str:
    """edgellm_last_error() of this thread ("" if none)."""
    raw = _L().edgellm_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def _check(status: int) -> int:
    """Raises the Error for a failing status; returns soft outcomes (OK, CANCELLED, CONTEXT_FULL)."""
    if status in (Status.OK, Status.CANCELLED, Status.CONTEXT_FULL):
        return status
    raise error_for(status, last_error())


def _new_struct(cls, init_name: str):
    """A `cls` filled by its C _init function. The init runs on a generously sized scratch buffer
    (a newer library may know a larger struct and write all of it), then struct_size is set to
    ctypes.sizeof(cls): the layout this binding mirrors."""
    scratch = ctypes.create_string_buffer(ctypes.sizeof(cls) + 1024)
    getattr(_L(), init_name)(ctypes.cast(scratch, ctypes.POINTER(cls)))
    out = cls()
    ctypes.memmove(byref(out), scratch, ctypes.sizeof(cls))
    out.struct_size = ctypes.sizeof(cls)
    return out


def _read_buffer(call: Callable[[Any, int, Any], int], guess: int, elem=ctypes.c_char):
    """Runs an output-buffer-convention call: first with `guess` elements, then once more with the
    size the library asked for. Returns (buffer, n)."""
    cap = max(int(guess), 1)
    for _ in range(3):
        buf = (elem * cap)()
        n = c_size_t(0)
        status = call(buf, cap, byref(n))
        if status == Status.ERR_BUFFER_TOO_SMALL:
            cap = n.value + 1
            continue
        _check(status)
        return buf, n.value
    raise Error(Status.ERR_INTERNAL, "output size kept changing between calls")


def _encode(text: Union[str, bytes], what: str = "text") -> bytes:
    if isinstance(text, bytes):
        return text  # passed through unchecked: the library validates UTF-8
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    raise TypeError(f"{what} must be str or bytes, not {type(text).__name__}")


class _Messages:
    """A C array of edgellm_chat_message, with the encoded strings kept alive."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self._keep: List[bytes] = []
        self.n = len(messages)
        self.array = (_lib.ChatMessageStruct * max(self.n, 1))()
        for i, msg in enumerate(messages):
            if isinstance(msg, dict):
                role, content = msg.get("role"), msg.get("content")
            else:
                role, content = msg
            if role is None or content is None:
                raise ValueError(f"message {i} needs a 'role' and a 'content'")
            r, c = _encode(role, "role"), _encode(content, "content")
            if b"\0" in r or b"\0" in c:
                raise ValueError(f"message {i} contains a NUL character")
            self._keep += [r, c]
            self.array[i].role = r
            self.array[i].content = c


# ---- module functions ----------------------------------------------------------------------------


def version() -> str:
    """Version string of the loaded library ("MAJOR.MINOR.PATCH")."""
    return _L().edgellm_version().decode()


def version_number() -> int:
    """EDGELLM_VERSION_NUMBER of the loaded library (MAJOR*10000 + MINOR*100 + PATCH)."""
    return int(_L().edgellm_version_number())


def status_string(status: int) -> str:
    """The library's English text for a status."""
    return _L().edgellm_status_string(int(status)).decode()


def devices() -> List[DeviceInfo]:
    """All OpenCL devices over all platforms ([] when there is no OpenCL platform)."""
    lib = _L()
    count = c_size_t(0)
    _check(lib.edgellm_device_count(byref(count)))
    out = []
    for i in range(count.value):
        info = _new_struct(_lib.DeviceInfoStruct, "edgellm_device_info_init")
        _check(lib.edgellm_device_get_info(i, byref(info)))
        out.append(DeviceInfo.from_struct(info))
    return out


_global_log_cb = None  # keeps the ctypes thunk alive while the library may call it


def _make_log_thunk(fn: Callable[[int, str], Any]):
    def thunk(level, message, _ud):
        try:
            fn(level, message.decode("utf-8", "replace") if message else "")
        except Exception:  # a log sink must not break the library call that logged
            pass
    return _lib.LOG_CALLBACK(thunk)


def set_log_callback(fn: Optional[Callable[[int, str], Any]],
                     max_level: Union[int, str, LogLevel] = LogLevel.INFO) -> None:
    """Process-wide log sink for messages not tied to a model: fn(level, message). None discards
    (the default). Messages above `max_level` are dropped."""
    global _global_log_cb
    level = to_enum(LogLevel, max_level)
    thunk = _make_log_thunk(fn) if fn is not None else _lib.LOG_CALLBACK()
    _L().edgellm_set_log_callback(thunk, None, int(level))
    _global_log_cb = thunk


# ---- Model -----------------------------------------------------------------------------------------


class Model:
    """A loaded model (GGUF file or Hugging Face directory); immutable and thread-safe once open.

    >>> with edgellm.Model("SmolLM2-135M-Instruct.Q4_1.gguf", backend="cpu") as m:
    ...     print(m.generate("The capital of France is", max_new_tokens=16).text)

    Closing the model first closes every Session created on it.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], *,
                 backend: Union[str, int, Backend] = Backend.AUTO,
                 weights: Union[str, int, Weights] = Weights.AUTO,
                 n_threads: int = 0, context_length: int = 0, device_index: int = -1,
                 progress: Optional[Callable[[float], Any]] = None,
                 log: Optional[Callable[[int, str], Any]] = None,
                 log_level: Union[int, str, LogLevel] = LogLevel.INFO) -> None:
        """Opens `path`. `progress(fraction)` returning a truthy value cancels the load (raises
        edgellm.Cancelled); `log(level, message)` receives this model's log lines."""
        self._handle: Optional[int] = None
        self._sessions: "weakref.WeakSet[Session]" = weakref.WeakSet()
        lib = _L()
        params = _new_struct(_lib.ModelParamsStruct, "edgellm_model_params_init")
        params.backend = int(to_enum(Backend, backend))
        params.weights = int(to_enum(Weights, weights))
        params.n_threads = int(n_threads)
        params.context_length = int(context_length)
        params.device_index = int(device_index)
        params.log_level = int(to_enum(LogLevel, log_level))
        raised: List[BaseException] = []
        if progress is not None:
            def on_progress(fraction, _ud):
                try:
                    return 1 if progress(float(fraction)) else 0
                except BaseException as exc:  # re-raised after edgellm_model_open returns
                    raised.append(exc)
                    return 1
            progress_thunk = _lib.PROGRESS_CALLBACK(on_progress)
            params.progress_callback = progress_thunk
        # The log thunk lives as long as the model: sessions log through it too.
        self._log_thunk = _make_log_thunk(log) if log is not None else None
        if self._log_thunk is not None:
            params.log_callback = self._log_thunk
        handle = ctypes.c_void_p()
        status = lib.edgellm_model_open(_encode(os.fspath(path), "path"), byref(params),
                                        byref(handle))
        if raised:
            raise raised[0]
        if status == Status.CANCELLED:
            raise Cancelled(status, "model load cancelled by the progress callback")
        _check(status)
        self._handle = handle.value
        self.path = os.fspath(path)

    # -- lifetime
    def close(self) -> None:
        """Closes every session on this model, then the model. Idempotent."""
        for s in list(self._sessions):
            s.close()
        if self._handle is not None:
            h, self._handle = self._handle, None
            _L().edgellm_model_close(h)

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def _h(self) -> int:
        if self._handle is None:
            raise InvalidArgument(Status.ERR_INVALID_ARGUMENT, "the model is closed")
        return self._handle

    # -- properties
    @property
    def info(self) -> ModelInfo:
        info = _new_struct(_lib.ModelInfoStruct, "edgellm_model_info_init")
        _check(_L().edgellm_model_get_info(self._h, byref(info)))
        return ModelInfo.from_struct(info)

    @property
    def n_vocab(self) -> int:
        return int(_L().edgellm_model_n_vocab(self._h))

    @property
    def context_length(self) -> int:
        return int(_L().edgellm_model_context_length(self._h))

    @property
    def architecture(self) -> str:
        raw = _L().edgellm_model_architecture(self._h)
        return raw.decode("utf-8", "replace") if raw else ""

    @property
    def bos_token(self) -> int:
        """BOS id, -1 if none."""
        return int(_L().edgellm_model_bos_token(self._h))

    @property
    def eos_token(self) -> int:
        """Primary end-of-generation id, -1 if none."""
        return int(_L().edgellm_model_eos_token(self._h))

    def is_eog(self, token: int) -> bool:
        """Whether `token` ends generation (EOS, EOT, <|im_end|>, ...)."""
        return bool(_L().edgellm_model_is_eog_token(self._h, int(token)))

    @property
    def chat_template(self) -> Optional[str]:
        """The model's own Jinja chat template, None if it carries none."""
        raw = _L().edgellm_model_chat_template(self._h)
        return raw.decode("utf-8", "replace") if raw is not None else None

    # -- tokenizer
    def tokenize(self, text: Union[str, bytes], *, add_special: bool = True,
                 parse_special: bool = True) -> List[int]:
        """Token ids of `text`. `add_special` adds BOS/EOS as the tokenizer config says;
        `parse_special` turns text such as "<|im_end|>" into its special token. bytes are passed
        as-is (InvalidUtf8 if they are not UTF-8)."""
        data = _encode(text)
        flags = ((_lib.EDGELLM_TOKENIZE_ADD_SPECIAL if add_special else 0)
                 | (_lib.EDGELLM_TOKENIZE_PARSE_SPECIAL if parse_special else 0))
        h, lib = self._h, _L()
        buf, n = _read_buffer(lambda b, cap, n_out: lib.edgellm_tokenize(
            h, data, len(data), flags, b, cap, n_out), len(data) + 8, c_int32)
        return list(buf[:n])

    def detokenize(self, tokens: Iterable[int], *, skip_special: bool = False) -> str:
        """Text of `tokens` as Hugging Face `decode` gives it (invalid bytes become U+FFFD)."""
        toks = list(tokens)
        arr = (c_int32 * max(len(toks), 1))(*toks)
        flags = _lib.EDGELLM_DETOKENIZE_SKIP_SPECIAL if skip_special else 0
        h, lib = self._h, _L()
        buf, n = _read_buffer(lambda b, cap, n_out: lib.edgellm_detokenize(
            h, arr, len(toks), flags, b, cap, n_out), 8 * len(toks) + 16)
        return buf.raw[:n].decode("utf-8", "replace")

    def token_to_piece(self, token: int) -> bytes:
        """The raw bytes `token` stands for in a stream (may be part of a UTF-8 character)."""
        h, lib = self._h, _L()
        buf, n = _read_buffer(lambda b, cap, n_out: lib.edgellm_token_to_piece(
            h, int(token), b, cap, n_out), 32)
        return buf.raw[:n]

    def apply_chat_template(self, messages: Sequence[Message], *, template: Optional[str] = None,
                            add_generation_prompt: bool = True) -> str:
        """Renders `messages` ([{"role": ..., "content": ...}, ...]) with the model's template
        (template=None), a built-in one ("llama3", "llama2", "chatml", "mistral") or Jinja source."""
        msgs = _Messages(messages)
        tpl = _encode(template, "template") if template is not None else None
        h, lib = self._h, _L()
        guess = 256 + sum(len(b) for b in msgs._keep) * 2
        buf, n = _read_buffer(lambda b, cap, n_out: lib.edgellm_chat_apply_template(
            h, tpl, msgs.array, msgs.n, 1 if add_generation_prompt else 0, b, cap, n_out), guess)
        return buf.raw[:n].decode("utf-8", "replace")

    # -- sessions and one-shot helpers
    def session(self, *, n_ctx: int = 0, n_batch: int = 0, n_threads: int = 0) -> "Session":
        """A new Session (KV cache) on this model."""
        return Session(self, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads)

    def generate(self, prompt: str, *, on_piece: Optional[PieceCallback] = None,
                 **sampling: Any) -> Generation:
        """One-shot Session.generate on a fresh session."""
        with self.session() as s:
            return s.generate(prompt, on_piece=on_piece, **sampling)

    def chat(self, messages: Sequence[Message], *, on_piece: Optional[PieceCallback] = None,
             **sampling: Any) -> Generation:
        """One-shot Session.chat on a fresh session."""
        with self.session() as s:
            return s.chat(messages, on_piece=on_piece, **sampling)


from ._session import Session  # noqa: E402  (Session needs Model defined above)
