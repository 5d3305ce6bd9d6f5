# Plain-Python value types of the edgellm binding: enums for the C ABI's enum values and frozen
# dataclasses for the structs the library fills (stats, model info, device info), converted from
# their ctypes mirrors in edgellm/_lib.py.
from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Iterator, List, Tuple, Union

from . import _lib


class Backend(enum.IntEnum):
    """edgellm_backend."""
    AUTO = 0
    CPU = 1
    OPENCL = 2
    CPU_REFERENCE = 3  # the scalar CPU reference (float activations)


class Weights(enum.IntEnum):
    """edgellm_weights: the run format of the large matrices."""
    AUTO = 0
    F32 = 1
    F16 = 2
    Q8_0 = 3
    Q4 = 4


class LogLevel(enum.IntEnum):
    """edgellm_log_level."""
    ERROR = 0
    WARN = 1
    INFO = 2
    DEBUG = 3


class StopReason(enum.IntEnum):
    """edgellm_stop_reason: why generation stopped."""
    NONE = 0
    EOS = 1
    MAX_TOKENS = 2
    STRING = 3
    CANCELLED = 4
    CONTEXT_FULL = 5
    ERROR = 6


def to_enum(enum_cls, value: Union[str, int, enum.IntEnum]):
    """Accepts an enum member, its int value, or its name in any case ("cpu", "Q8_0")."""
    if isinstance(value, str):
        try:
            return enum_cls[value.upper()]
        except KeyError:
            names = ", ".join(m.name.lower() for m in enum_cls)
            raise ValueError(f"unknown {enum_cls.__name__} {value!r} (one of {names})") from None
    return enum_cls(value)


def _enum_or_int(enum_cls, value: int):
    try:
        return enum_cls(value)
    except ValueError:
        return value  # a value newer than this binding


def _text(raw) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


@dataclass(frozen=True)
class Stats:
    """edgellm_stats of one generate/chat call (times in milliseconds)."""
    stop_reason: StopReason
    n_prompt_tokens: int
    n_reused_tokens: int
    n_generated_tokens: int
    load_ms: float
    prefill_ms: float
    decode_ms: float
    prefill_tokens_per_second: float
    decode_tokens_per_second: float
    time_to_first_token_ms: float
    weight_bytes: int
    peak_memory_bytes: int

    @classmethod
    def from_struct(cls, s: _lib.StatsStruct) -> "Stats":
        values = {f.name: getattr(s, f.name) for f in fields(cls)}
        values["stop_reason"] = _enum_or_int(StopReason, s.stop_reason)
        return cls(**values)


@dataclass(frozen=True)
class Generation:
    """Result of Session.generate/chat. Unpacks as `(text, stats)`.

    `status` is OK, CANCELLED (a callback or Session.cancel stopped it) or CONTEXT_FULL; the
    soft outcomes are not errors (the session keeps what was generated)."""
    text: str
    stats: Stats
    tokens: List[int]
    status: int

    @property
    def context_full(self) -> bool:
        return self.stats.stop_reason == StopReason.CONTEXT_FULL

    @property
    def cancelled(self) -> bool:
        return self.stats.stop_reason == StopReason.CANCELLED

    def __iter__(self) -> Iterator:
        return iter((self.text, self.stats))


@dataclass(frozen=True)
class ModelInfo:
    """edgellm_model_info."""
    n_vocab: int
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    bos_token: int
    eos_token: int
    backend: Backend
    weights: Weights
    n_params: int
    weight_bytes: int
    architecture: str
    name: str
    device_name: str
    backend_note: str
    load_ms: float

    @classmethod
    def from_struct(cls, s: _lib.ModelInfoStruct) -> "ModelInfo":
        values = {f.name: getattr(s, f.name) for f in fields(cls)}
        for key in ("architecture", "name", "device_name", "backend_note"):
            values[key] = _text(values[key])
        values["backend"] = _enum_or_int(Backend, s.backend)
        values["weights"] = _enum_or_int(Weights, s.weights)
        return cls(**values)


@dataclass(frozen=True)
class DeviceInfo:
    """edgellm_device_info of one OpenCL device."""
    index: int
    name: str
    vendor: str
    driver_version: str
    platform_name: str
    opencl_version: str
    global_mem_bytes: int
    max_alloc_bytes: int
    compute_units: int
    max_clock_mhz: int
    is_gpu: bool
    has_fp16: bool
    unified_memory: bool
    has_subgroups: bool

    @classmethod
    def from_struct(cls, s: _lib.DeviceInfoStruct) -> "DeviceInfo":
        values = {f.name: getattr(s, f.name) for f in fields(cls)}
        for key in ("name", "vendor", "driver_version", "platform_name", "opencl_version"):
            values[key] = _text(values[key])
        for key in ("is_gpu", "has_fp16", "unified_memory", "has_subgroups"):
            values[key] = bool(values[key])
        return cls(**values)


Message = Union[dict, Tuple[str, str]]
