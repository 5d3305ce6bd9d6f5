#!/usr/bin/env bash
# Installs the Debian 12 packages libedgellm builds and tests with (idempotent; uses sudo when not
# root). Everything comes from the distribution: no other download.
set -euo pipefail
PKGS=(build-essential cmake pkg-config git python3 python3-pip python3-venv unzip ca-certificates
      ocl-icd-opencl-dev opencl-headers libclblast-dev libsentencepiece-dev libsimdjson-dev
      doctest-dev pocl-opencl-icd clinfo libpcre2-dev libicu-dev python3-pytest python3-numpy
      libcpp-httplib-dev)
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
