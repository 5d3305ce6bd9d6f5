# edgellm: Python binding of libedgellm (pure Python over ctypes, no compiled extension).
# The library is found through $EDGELLM_LIBRARY, next to this package, or the system linker path;
# it is loaded on first use, so `import edgellm` works without it.
"""Run Llama-family language models with libedgellm.

    import edgellm
    with edgellm.Model("SmolLM2-135M-Instruct.Q4_1.gguf", backend="cpu") as model:
        with model.session() as session:
            for piece in session.stream("The capital of France is", max_new_tokens=32):
                print(piece, end="", flush=True)
            answer = session.chat([{"role": "user", "content": "Hi!"}], temperature=0)
            print(answer.text, answer.stats.decode_tokens_per_second)
"""
from ._api import (Model, devices, last_error, set_log_callback, status_string, version,
                   version_number)
from ._lib import load_library
from ._session import Session, Stream
from ._types import Backend, DeviceInfo, Generation, LogLevel, ModelInfo, Stats, StopReason, Weights
from .errors import (Cancelled, ContextFull, DeviceError, DeviceOutOfMemory, Error, FileNotFound,
                     InternalError, InvalidArgument, InvalidModel, InvalidToken, InvalidUtf8,
                     IOError_, KernelBuildError, NoDevice, OutOfMemory, SoftOutcome, Status,
                     StructSizeError, TemplateError, Unsupported, UnsupportedModel)

__version__ = "0.1.0"

__all__ = [
    "Model", "Session", "Stream", "Generation", "Stats", "ModelInfo", "DeviceInfo",
    "Backend", "Weights", "LogLevel", "StopReason", "Status",
    "devices", "version", "version_number", "status_string", "last_error", "set_log_callback",
    "load_library",
    "Error", "InvalidArgument", "StructSizeError", "InvalidUtf8", "InvalidToken", "TemplateError",
    "Unsupported", "FileNotFound", "IOError_", "InvalidModel", "UnsupportedModel", "OutOfMemory",
    "NoDevice", "DeviceError", "KernelBuildError", "DeviceOutOfMemory", "InternalError",
    "SoftOutcome", "ContextFull", "Cancelled",
]
