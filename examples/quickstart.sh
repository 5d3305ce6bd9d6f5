#!/usr/bin/env bash
# The main job: install the Debian packages, build libedgellm and its examples, fetch the default
# model (SmolLM2-135M-Instruct, Q4_1 GGUF) once, and stream an answer with speed figures.
# Usage: bash examples/quickstart.sh ["your question"] [extra edgellm-cli flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
MODEL="$(bash cmake/scripts/fetch_model.sh)"
QUESTION="${1:-What are three good reasons to learn to cook at home?}"
shift || true
echo
echo "model: $MODEL"
echo "question: $QUESTION"
echo
exec build/examples/cli/edgellm-cli -m "$MODEL" -p "$QUESTION" -n 200 "$@"
