# Status codes of the C ABI as a Python enum, and the exceptions the binding raises for them.
# Every failing C call raises a subclass of edgellm.Error carrying the status and the library's
# last-error text. Soft outcomes (cancelled, context full) are not errors: generation reports them
# in Stats.stop_reason; only Session.eval, which then did nothing, raises ContextFull/Cancelled.
from __future__ import annotations

import enum
from typing import Dict, Type


class Status(enum.IntEnum):
    """edgellm_status (values fixed by the C ABI)."""
    OK = 0
    CANCELLED = 1
    CONTEXT_FULL = 2
    ERR_BUFFER_TOO_SMALL = 3
    ERR_INVALID_ARGUMENT = 100
    ERR_STRUCT_SIZE = 101
    ERR_INVALID_UTF8 = 102
    ERR_INVALID_TOKEN = 103
    ERR_TEMPLATE = 104
    ERR_UNSUPPORTED = 105
    ERR_FILE_NOT_FOUND = 200
    ERR_IO = 201
    ERR_INVALID_MODEL = 202
    ERR_UNSUPPORTED_MODEL = 203
    ERR_OUT_OF_MEMORY = 300
    ERR_NO_DEVICE = 400
    ERR_DEVICE = 401
    ERR_KERNEL_BUILD = 402
    ERR_DEVICE_OUT_OF_MEMORY = 403
    ERR_INTERNAL = 900


class Error(Exception):
    """A libedgellm call failed. `status` is the edgellm_status (a Status when known, else the raw
    int) and `message` the library's detail (edgellm_last_error) or the binding's own text."""

    def __init__(self, status: int, message: str) -> None:
        try:
            self.status = Status(status)
        except ValueError:
            self.status = status  # a status newer than this binding: keep the number
        self.message = message
        name = self.status.name if isinstance(self.status, Status) else f"status {status}"
        super().__init__(f"{message} [{name}]" if message else f"[{name}]")


class InvalidArgument(Error, ValueError):
    """EDGELLM_ERR_INVALID_ARGUMENT: a NULL/closed handle or an out-of-range value."""


class StructSizeError(Error):
    """EDGELLM_ERR_STRUCT_SIZE: a parameter struct's struct_size was rejected."""


class InvalidUtf8(Error, ValueError):
    """EDGELLM_ERR_INVALID_UTF8: text given to the library is not valid UTF-8."""


class InvalidToken(Error, ValueError):
    """EDGELLM_ERR_INVALID_TOKEN: a token id outside [0, n_vocab)."""


class TemplateError(Error):
    """EDGELLM_ERR_TEMPLATE: a chat template failed to parse or render."""


class Unsupported(Error):
    """EDGELLM_ERR_UNSUPPORTED: valid, but this build or backend cannot do it."""


class FileNotFound(Error, FileNotFoundError):
    """EDGELLM_ERR_FILE_NOT_FOUND: the model path does not exist or cannot be opened."""


class IOError_(Error):
    """EDGELLM_ERR_IO: reading or mapping the model failed."""


class InvalidModel(Error):
    """EDGELLM_ERR_INVALID_MODEL: malformed, truncated or inconsistent model file."""


class UnsupportedModel(Error):
    """EDGELLM_ERR_UNSUPPORTED_MODEL: unknown architecture or tensor type."""


class OutOfMemory(Error, MemoryError):
    """EDGELLM_ERR_OUT_OF_MEMORY: host memory exhausted."""


class NoDevice(Error):
    """EDGELLM_ERR_NO_DEVICE: no usable OpenCL platform or device."""


class DeviceError(Error):
    """EDGELLM_ERR_DEVICE: an OpenCL call failed."""


class KernelBuildError(Error):
    """EDGELLM_ERR_KERNEL_BUILD: an OpenCL program failed to build."""


class DeviceOutOfMemory(Error):
    """EDGELLM_ERR_DEVICE_OUT_OF_MEMORY."""


class InternalError(Error):
    """EDGELLM_ERR_INTERNAL (a library bug)."""


class SoftOutcome(Exception):
    """Base of the non-error outcomes Session.eval raises because it did nothing. Not an Error."""

    def __init__(self, status: int, message: str = "") -> None:
        self.status = Status(status)
        self.message = message
        super().__init__(message or self.status.name)


class ContextFull(SoftOutcome):
    """EDGELLM_CONTEXT_FULL from Session.eval: the tokens do not fit; nothing was appended."""


class Cancelled(SoftOutcome):
    """EDGELLM_CANCELLED from Session.eval: Session.cancel() stopped the evaluation."""


_BY_STATUS: Dict[int, Type[Error]] = {
    Status.ERR_INVALID_ARGUMENT: InvalidArgument,
    Status.ERR_STRUCT_SIZE: StructSizeError,
    Status.ERR_INVALID_UTF8: InvalidUtf8,
    Status.ERR_INVALID_TOKEN: InvalidToken,
    Status.ERR_TEMPLATE: TemplateError,
    Status.ERR_UNSUPPORTED: Unsupported,
    Status.ERR_FILE_NOT_FOUND: FileNotFound,
    Status.ERR_IO: IOError_,
    Status.ERR_INVALID_MODEL: InvalidModel,
    Status.ERR_UNSUPPORTED_MODEL: UnsupportedModel,
    Status.ERR_OUT_OF_MEMORY: OutOfMemory,
    Status.ERR_NO_DEVICE: NoDevice,
    Status.ERR_DEVICE: DeviceError,
    Status.ERR_KERNEL_BUILD: KernelBuildError,
    Status.ERR_DEVICE_OUT_OF_MEMORY: DeviceOutOfMemory,
    Status.ERR_INTERNAL: InternalError,
}


def error_for(status: int, message: str) -> Error:
    """The Error subclass instance for a failing status (plain Error for unknown codes)."""
    return _BY_STATUS.get(status, Error)(status, message)
