# Tests of the binding that need no model: library loading and version, struct layouts against the
# C compiler's, parameter-struct defaults, devices, error mapping for bad paths and bad files.
import ctypes
import os
import re
import shutil
import subprocess

import pytest

import edgellm
from edgellm import _lib

STRUCTS = {
    "edgellm_device_info": (_lib.DeviceInfoStruct, "edgellm_device_info_init"),
    "edgellm_model_params": (_lib.ModelParamsStruct, "edgellm_model_params_init"),
    "edgellm_model_info": (_lib.ModelInfoStruct, "edgellm_model_info_init"),
    "edgellm_chat_message": (_lib.ChatMessageStruct, None),
    "edgellm_session_params": (_lib.SessionParamsStruct, "edgellm_session_params_init"),
    "edgellm_generate_params": (_lib.GenerateParamsStruct, "edgellm_generate_params_init"),
    "edgellm_stats": (_lib.StatsStruct, "edgellm_stats_init"),
}


def header_version(repo):
    text = (repo / "include" / "edgellm" / "edgellm.h").read_text()
    return tuple(int(re.search(rf"#define EDGELLM_VERSION_{k} (\d+)", text).group(1))
                 for k in ("MAJOR", "MINOR", "PATCH"))


def test_version_matches_header(repo):
    major, minor, patch = header_version(repo)
    assert edgellm.version() == f"{major}.{minor}.{patch}"
    assert edgellm.version_number() == major * 10000 + minor * 100 + patch
    assert major == _lib.ABI_MAJOR


def test_every_header_function_is_declared(repo):
    text = (repo / "include" / "edgellm" / "edgellm.h").read_text()
    declared = set(re.findall(r"EDGELLM_API\s+[^;(]*?\b(edgellm_\w+)\s*\(", text))
    assert declared, "no EDGELLM_API function found in the header"
    assert declared == set(_lib.FUNCTIONS)


def test_struct_layouts_match_the_c_compiler(repo, tmp_path):
    """Every ctypes mirror has the C struct's size and the same offset for every field."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to compute the C layouts")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <edgellm/edgellm.h>",
             "int main(void) {"]
    for cname, (cls, _) in STRUCTS.items():
        lines.append(f'printf("{cname} sizeof %zu\\n", sizeof({cname}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-I", str(repo / "include"), str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    c_layout = {tuple(line.split()[:2]): int(line.split()[2]) for line in out.splitlines()}
    for cname, (cls, _) in STRUCTS.items():
        assert c_layout[(cname, "sizeof")] == ctypes.sizeof(cls), cname
        for field, _ in cls._fields_:
            assert c_layout[(cname, field)] == getattr(cls, field).offset, f"{cname}.{field}"


@pytest.mark.parametrize("cname", [k for k, v in STRUCTS.items() if v[1]])
def test_init_sets_struct_size_of_this_layout(cname):
    """The library's _init writes sizeof(struct) as this header knows it: equal to the mirror."""
    cls, init = STRUCTS[cname]
    scratch = ctypes.create_string_buffer(ctypes.sizeof(cls) + 1024)
    getattr(_lib.lib(), init)(ctypes.cast(scratch, ctypes.POINTER(cls)))
    assert ctypes.cast(scratch, ctypes.POINTER(ctypes.c_uint32))[0] == ctypes.sizeof(cls)


def test_generate_params_defaults_documented_in_header():
    from edgellm._session import _GenParams
    p = _GenParams({}).struct
    assert p.max_new_tokens == 256
    assert p.temperature == pytest.approx(0.7)
    assert p.top_k == 40
    assert p.top_p == pytest.approx(0.95)
    assert p.seed == _lib.EDGELLM_SEED_RANDOM
    assert p.tokenize_flags == 3
    q = _GenParams({"temperature": 0, "seed": 7, "stop": ["\n\n", "User:"], "add_special": False,
                    "max_new_tokens": 5}).struct
    assert q.temperature == 0 and q.seed == 7 and q.max_new_tokens == 5
    assert q.n_stop == 2 and q.stop[1] == b"User:"
    assert q.tokenize_flags == 2
    with pytest.raises(TypeError, match="tempreature"):
        _GenParams({"tempreature": 0.1})


def test_status_strings_and_enum():
    for status in edgellm.Status:
        assert edgellm.status_string(status)
    assert edgellm.status_string(12345) == "unknown status"
    err = edgellm.errors.error_for(202, "bad")
    assert isinstance(err, edgellm.InvalidModel) and err.status == edgellm.Status.ERR_INVALID_MODEL
    assert isinstance(edgellm.errors.error_for(777, "x"), edgellm.Error)


def test_devices_are_listed_consistently():
    devs = edgellm.devices()
    assert isinstance(devs, list)
    for i, d in enumerate(devs):
        assert d.index == i
        assert d.name and d.global_mem_bytes > 0 and d.compute_units > 0


def test_missing_file_raises_file_not_found(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(edgellm.FileNotFound) as info:
        edgellm.Model(missing, backend="cpu")
    assert info.value.status == edgellm.Status.ERR_FILE_NOT_FOUND
    assert info.value.message  # carries edgellm_last_error()
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("content", [b"", b"GGUF", b"not a model at all\n" * 100,
                                     b"GGUF\x03\x00\x00\x00" + b"\xff" * 64])
def test_garbage_file_raises_invalid_model(tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(edgellm.Error) as info:
        edgellm.Model(path, backend="cpu")
    assert info.value.status in (edgellm.Status.ERR_INVALID_MODEL,
                                 edgellm.Status.ERR_UNSUPPORTED_MODEL)
    assert info.value.message


@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.5, 0.9])
def test_truncated_gguf_raises_invalid_model(tmp_path, any_gguf, fraction):
    size = os.path.getsize(any_gguf)
    with open(any_gguf, "rb") as f:
        data = f.read(max(int(size * fraction), 8))
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data)
    with pytest.raises(edgellm.InvalidModel) as info:
        edgellm.Model(path, backend="cpu")
    assert info.value.message


def test_corrupted_header_raises(tmp_path, any_gguf):
    data = bytearray(open(any_gguf, "rb").read())
    data[8:16] = b"\xff" * 8  # tensor count: absurd
    path = tmp_path / "corrupt.gguf"
    path.write_bytes(bytes(data))
    with pytest.raises(edgellm.InvalidModel):
        edgellm.Model(path, backend="cpu")


def test_invalid_enum_names_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown Backend"):
        edgellm.Model(tmp_path / "x.gguf", backend="tpu")


def test_log_callback_receives_lines(any_gguf):
    lines = []
    with edgellm.Model(any_gguf, backend="cpu", log=lambda lvl, msg: lines.append((lvl, msg)),
                       log_level="debug") as m:
        assert m.info.backend == edgellm.Backend.CPU
    assert lines and all(isinstance(msg, str) and 0 <= lvl <= 3 for lvl, msg in lines)


def test_progress_callback_can_cancel_and_raise(any_gguf):
    seen = []
    with edgellm.Model(any_gguf, backend="cpu", progress=seen.append) as m:
        assert m.n_vocab > 0
    assert seen and all(0.0 <= p <= 1.0 for p in seen) and seen == sorted(seen)
    with pytest.raises(edgellm.Cancelled):
        edgellm.Model(any_gguf, backend="cpu", progress=lambda p: True)

    class Boom(Exception):
        pass

    def boom(p):
        raise Boom()
    with pytest.raises(Boom):
        edgellm.Model(any_gguf, backend="cpu", progress=boom)


def test_closed_model_raises_invalid_argument(any_gguf):
    m = edgellm.Model(any_gguf, backend="cpu")
    s = m.session(n_ctx=64)
    m.close()
    m.close()  # idempotent
    assert m.closed
    with pytest.raises(edgellm.InvalidArgument):
        m.tokenize("hello")
    with pytest.raises(edgellm.InvalidArgument):  # closing the model closed its sessions
        s.generate("x", max_new_tokens=1)


def test_load_library_explicit_path_and_bad_path(tmp_path):
    lib = _lib.lib()
    path = lib._name
    assert edgellm.load_library(path)._name == path
    assert edgellm.version_number() >= _lib.MIN_VERSION_NUMBER
    with pytest.raises(ImportError, match="not found or unusable"):
        _lib.load(str(tmp_path / "libnothing.so"))
    bogus = tmp_path / "libedgellm.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(ImportError):
        _lib.load(str(bogus))
