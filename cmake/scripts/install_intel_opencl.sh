#!/usr/bin/env bash
# Installs Intel's CPU OpenCL runtime (OpenCL 3.0 with cl_khr_fp16, sub-groups and
# cl_khr_integer_dot_product: the Mali-G610's feature set, on any x86-64 CPU) from PyPI into a
# virtual environment under the cache directory, writes an ICD file naming it, and prints the
# two variables that select it:
#     eval "$(bash cmake/scripts/install_intel_opencl.sh)"   # then OCL_ICD_VENDORS / LD_LIBRARY_PATH are set
# No root, no system change. Its speed means nothing for the Mali: it is a correctness device.
set -euo pipefail
VERSION=2026.2.0
CACHE="${EDGELLM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgellm}"
VENV="$CACHE/intel-opencl-$VERSION"
if [ "$(uname -m)" != "x86_64" ]; then
  echo "install_intel_opencl.sh: Intel's CPU runtime is x86-64 only" >&2
  exit 1
fi
if [ ! -f "$VENV/lib/libintelocl.so" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "intel-opencl-rt==$VERSION" intel-cmplr-lib-rt >&2
fi
[ -f "$VENV/lib/libintelocl.so" ] || { echo "install_intel_opencl.sh: libintelocl.so missing in $VENV/lib" >&2; exit 1; }
mkdir -p "$VENV/icd"
echo "$VENV/lib/libintelocl.so" > "$VENV/icd/intel.icd"
echo "export OCL_ICD_VENDORS='$VENV/icd'"
echo "export LD_LIBRARY_PATH='$VENV/lib'${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
