# Low-level ctypes layer of the edgellm binding: finds libedgellm, mirrors every public struct of
# include/edgellm/edgellm.h as a ctypes.Structure (same field order and types, so the layout is the
# C compiler's natural one on every platform) and declares every C ABI function's argtypes/restype.
# Nothing here is pythonic; edgellm/_api.py builds the public API on top of it.
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, CFUNCTYPE, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_size_t, c_uint32, c_uint64, c_void_p)
from pathlib import Path
from typing import List, Optional

# The ABI major this binding was written against (EDGELLM_VERSION_MAJOR, the SOVERSION).
ABI_MAJOR = 0
# Oldest EDGELLM_VERSION_NUMBER whose functions and structs this binding declares.
MIN_VERSION_NUMBER = 100

# ---- status, flags and other constants (values from edgellm.h; never renumbered) ---------------
EDGELLM_OK = 0
EDGELLM_CANCELLED = 1
EDGELLM_CONTEXT_FULL = 2
EDGELLM_ERR_BUFFER_TOO_SMALL = 3
EDGELLM_TOKENIZE_ADD_SPECIAL = 1
EDGELLM_TOKENIZE_PARSE_SPECIAL = 2
EDGELLM_DETOKENIZE_SKIP_SPECIAL = 1
EDGELLM_SEED_RANDOM = 2**64 - 1

# ---- callback types -----------------------------------------------------------------------------
# `piece` is declared c_void_p (not c_char_p): it is not NUL-terminated and may contain NUL bytes;
# the wrapper reads exactly `len` bytes with ctypes.string_at.
STREAM_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_size_t, c_int32, c_void_p)
LOG_CALLBACK = CFUNCTYPE(None, c_int32, c_char_p, c_void_p)
PROGRESS_CALLBACK = CFUNCTYPE(c_int, c_float, c_void_p)


# ---- structs (field order and types exactly as in edgellm.h) -----------------------------------
class DeviceInfoStruct(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("index", c_uint32),
        ("name", c_char * 256),
        ("vendor", c_char * 256),
        ("driver_version", c_char * 128),
        ("platform_name", c_char * 256),
        ("opencl_version", c_char * 128),
        ("global_mem_bytes", c_uint64),
        ("max_alloc_bytes", c_uint64),
        ("compute_units", c_uint32),
        ("max_clock_mhz", c_uint32),
        ("is_gpu", c_int32),
        ("has_fp16", c_int32),
        ("unified_memory", c_int32),
        ("has_subgroups", c_int32),
    ]


class ModelParamsStruct(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("backend", c_int32),
        ("weights", c_int32),
        ("n_threads", c_int32),
        ("context_length", c_uint32),
        ("device_index", c_int32),
        ("progress_callback", PROGRESS_CALLBACK),
        ("progress_user_data", c_void_p),
        ("log_callback", LOG_CALLBACK),
        ("log_user_data", c_void_p),
        ("log_level", c_int32),
        ("opencl_row", c_char_p),
        ("opencl_tune", c_char_p),
    ]


class ModelInfoStruct(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("n_vocab", c_int32),
        ("n_ctx_train", c_int32),
        ("n_embd", c_int32),
        ("n_layer", c_int32),
        ("n_head", c_int32),
        ("n_head_kv", c_int32),
        ("n_ff", c_int32),
        ("bos_token", c_int32),
        ("eos_token", c_int32),
        ("backend", c_int32),
        ("weights", c_int32),
        ("n_params", c_uint64),
        ("weight_bytes", c_uint64),
        ("architecture", c_char_p),
        ("name", c_char_p),
        ("device_name", c_char_p),
        ("backend_note", c_char_p),
        ("load_ms", c_double),
    ]


class ChatMessageStruct(Structure):
    _fields_ = [
        ("role", c_char_p),
        ("content", c_char_p),
    ]


class SessionParamsStruct(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("n_ctx", c_uint32),
        ("n_batch", c_uint32),
        ("n_threads", c_int32),
    ]


class GenerateParamsStruct(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("max_new_tokens", c_int32),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repetition_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("penalty_last_n", c_int32),
        ("seed", c_uint64),
        ("stop", POINTER(c_char_p)),
        ("n_stop", c_size_t),
        ("ignore_eos", c_int32),
        ("tokenize_flags", c_uint32),
    ]


class StatsStruct(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("stop_reason", c_int32),
        ("n_prompt_tokens", c_uint64),
        ("n_reused_tokens", c_uint64),
        ("n_generated_tokens", c_uint64),
        ("load_ms", c_double),
        ("prefill_ms", c_double),
        ("decode_ms", c_double),
        ("prefill_tokens_per_second", c_double),
        ("decode_tokens_per_second", c_double),
        ("time_to_first_token_ms", c_double),
        ("weight_bytes", c_uint64),
        ("peak_memory_bytes", c_uint64),
    ]


# Opaque handles are passed as c_void_p.
_model_p = c_void_p
_session_p = c_void_p
_status = c_int  # edgellm_status is a C enum: int-sized on every ABI we target

# name -> (restype, argtypes). Every function of edgellm.h, in header order.
FUNCTIONS = {
    "edgellm_version": (c_char_p, []),
    "edgellm_version_number": (c_uint32, []),
    "edgellm_status_string": (c_char_p, [_status]),
    "edgellm_last_error": (c_char_p, []),
    "edgellm_set_log_callback": (None, [LOG_CALLBACK, c_void_p, c_int32]),
    "edgellm_device_info_init": (None, [POINTER(DeviceInfoStruct)]),
    "edgellm_device_count": (_status, [POINTER(c_size_t)]),
    "edgellm_device_get_info": (_status, [c_size_t, POINTER(DeviceInfoStruct)]),
    "edgellm_model_params_init": (None, [POINTER(ModelParamsStruct)]),
    "edgellm_model_open": (_status, [c_char_p, POINTER(ModelParamsStruct), POINTER(_model_p)]),
    "edgellm_model_close": (None, [_model_p]),
    "edgellm_model_info_init": (None, [POINTER(ModelInfoStruct)]),
    "edgellm_model_get_info": (_status, [_model_p, POINTER(ModelInfoStruct)]),
    "edgellm_model_n_vocab": (c_int32, [_model_p]),
    "edgellm_model_context_length": (c_int32, [_model_p]),
    "edgellm_model_architecture": (c_char_p, [_model_p]),
    "edgellm_model_bos_token": (c_int32, [_model_p]),
    "edgellm_model_eos_token": (c_int32, [_model_p]),
    "edgellm_model_is_eog_token": (c_int32, [_model_p, c_int32]),
    "edgellm_model_chat_template": (c_char_p, [_model_p]),
    "edgellm_tokenize": (_status, [_model_p, c_char_p, c_size_t, c_uint32, POINTER(c_int32),
                                   c_size_t, POINTER(c_size_t)]),
    "edgellm_detokenize": (_status, [_model_p, POINTER(c_int32), c_size_t, c_uint32,
                                     POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "edgellm_token_to_piece": (_status, [_model_p, c_int32, POINTER(c_char), c_size_t,
                                         POINTER(c_size_t)]),
    "edgellm_chat_apply_template": (_status, [_model_p, c_char_p, POINTER(ChatMessageStruct),
                                              c_size_t, c_int32, POINTER(c_char), c_size_t,
                                              POINTER(c_size_t)]),
    "edgellm_session_params_init": (None, [POINTER(SessionParamsStruct)]),
    "edgellm_session_create": (_status, [_model_p, POINTER(SessionParamsStruct),
                                         POINTER(_session_p)]),
    "edgellm_session_free": (None, [_session_p]),
    "edgellm_session_reset": (_status, [_session_p]),
    "edgellm_session_n_tokens": (c_size_t, [_session_p]),
    "edgellm_session_n_ctx": (c_size_t, [_session_p]),
    "edgellm_session_get_tokens": (_status, [_session_p, POINTER(c_int32), c_size_t,
                                             POINTER(c_size_t)]),
    "edgellm_session_truncate": (_status, [_session_p, c_size_t]),
    "edgellm_session_cancel": (None, [_session_p]),
    "edgellm_session_eval": (_status, [_session_p, POINTER(c_int32), c_size_t, POINTER(c_float)]),
    "edgellm_generate_params_init": (None, [POINTER(GenerateParamsStruct)]),
    "edgellm_stats_init": (None, [POINTER(StatsStruct)]),
    "edgellm_generate": (_status, [_session_p, c_char_p, POINTER(GenerateParamsStruct),
                                   STREAM_CALLBACK, c_void_p, POINTER(StatsStruct)]),
    "edgellm_chat": (_status, [_session_p, POINTER(ChatMessageStruct), c_size_t,
                               POINTER(GenerateParamsStruct), STREAM_CALLBACK, c_void_p,
                               POINTER(StatsStruct)]),
}


def candidate_paths() -> List[str]:
    """Where the library is looked for, in order: $EDGELLM_LIBRARY, next to this package, then the
    system linker path (ctypes.util.find_library, then the SONAME)."""
    out: List[str] = []
    env = os.environ.get("EDGELLM_LIBRARY")
    if env:
        out.append(env)
    here = Path(__file__).resolve().parent
    for name in (f"libedgellm.so.{ABI_MAJOR}", "libedgellm.so", "libedgellm.dylib", "edgellm.dll"):
        if (here / name).exists():
            out.append(str(here / name))
    found = ctypes.util.find_library("edgellm")
    if found:
        out.append(found)
    out.append(f"libedgellm.so.{ABI_MAJOR}")
    return out


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in FUNCTIONS.items():
        fn = getattr(lib, name)  # AttributeError if the library lacks a function of the ABI
        fn.restype = restype
        fn.argtypes = argtypes


def load(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads libedgellm (from `path`, else the first candidate that loads) and declares its ABI.
    Raises ImportError naming every place tried when none works, or when the library's ABI major
    differs from the binding's."""
    tried = []
    for cand in ([path] if path else candidate_paths()):
        try:
            lib = ctypes.CDLL(cand)
        except OSError as exc:
            tried.append(f"{cand}: {exc}")
            continue
        try:
            _declare(lib)
        except AttributeError as exc:
            tried.append(f"{cand}: missing symbol ({exc})")
            continue
        number = lib.edgellm_version_number()
        if number // 10000 != ABI_MAJOR or number < MIN_VERSION_NUMBER:
            tried.append(f"{cand}: library version {lib.edgellm_version().decode()} is not "
                         f"ABI-compatible with this binding (needs {ABI_MAJOR}.x >= "
                         f"{MIN_VERSION_NUMBER})")
            continue
        return lib
    raise ImportError("libedgellm not found or unusable; set EDGELLM_LIBRARY to its path. Tried:\n  "
                      + "\n  ".join(tried))


_LIB: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The process-wide loaded library (loaded on first use)."""
    global _LIB
    if _LIB is None:
        _LIB = load()
    return _LIB


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads libedgellm from `path` (or the usual places) and makes it the one the binding uses.
    Call it before anything else to pick a library programmatically instead of $EDGELLM_LIBRARY."""
    global _LIB
    _LIB = load(path)
    return _LIB
