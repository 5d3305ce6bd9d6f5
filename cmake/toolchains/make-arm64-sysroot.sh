#!/usr/bin/env bash
# Builds a private arm64 "sysroot" of the Debian 12 packages libedgellm links against, without
# touching the host's dpkg state: usage  make-arm64-sysroot.sh SYSROOT [--with-pocl]
# Used with cmake/toolchains/aarch64-linux-gnu.cmake (cross-build) and qemu-aarch64 -L SYSROOT.
#
# Why not `dpkg --add-architecture arm64 && apt-get install libfoo-dev:arm64`: libsentencepiece-dev
# and libsimdjson-dev are not `Multi-Arch: same`, so apt would REMOVE their amd64 variants (the
# native build needs them). Instead a throw-away apt state (arch arm64, empty dpkg status, the
# host's sources.list) resolves the full dependency closure, downloads the .debs and `dpkg -x`
# unpacks them. Nothing is installed. Absolute symlinks and the absolute /usr paths that the CMake
# config files of the -dev packages carry (CLBlast: libOpenCL.so and /usr/include; doctest:
# _IMPORT_PREFIX "/usr") are rewritten to point into the sysroot.
set -euo pipefail
SYSROOT="${1:?usage: $0 SYSROOT [--with-pocl]}"
WITH_POCL=0
[ "${2:-}" = "--with-pocl" ] && WITH_POCL=1
mkdir -p "$SYSROOT"
SYSROOT="$(cd "$SYSROOT" && pwd)"
# Keep in step with the -dev packages of cmake/scripts/install_deps.sh.
PKGS=(ocl-icd-opencl-dev opencl-headers libclblast-dev libsentencepiece-dev libsimdjson-dev
      doctest-dev libpcre2-dev libicu-dev)
# PoCL (the CPU OpenCL driver) for arm64 pulls clang-15/LLVM (~120 MB of .debs).
[ "$WITH_POCL" = 1 ] && PKGS+=(pocl-opencl-icd)
stamp="$SYSROOT/.edgellm-sysroot"
want="packages: ${PKGS[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "arm64 sysroot up to date: $SYSROOT"; exit 0
fi

if [ ! -f "$stamp" ] && [ -n "$(ls -A "$SYSROOT")" ]; then
  echo "refusing to replace $SYSROOT: not empty and not made by this script" >&2; exit 1
fi
APTDIR="$SYSROOT.apt"
rm -rf "$SYSROOT" "$APTDIR"
mkdir -p "$SYSROOT" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
: > "$APTDIR/status"
APT=(apt-get -q -o APT::Architecture=arm64 -o APT::Architectures=arm64
     -o Dir::State="$APTDIR" -o Dir::State::Lists="$APTDIR/lists"
     -o Dir::State::status="$APTDIR/status" -o Dir::Cache="$APTDIR/cache"
     -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
"${APT[@]}" update >/dev/null
# --download-only against an empty status resolves every dependency (libc6, libstdc++6, ...):
# the sysroot is then self-contained for qemu-aarch64 -L.
"${APT[@]}" install -y --download-only --no-install-recommends "${PKGS[@]}" >/dev/null
debs=("$APTDIR"/cache/archives/*.deb)
echo "unpacking ${#debs[@]} arm64 packages into $SYSROOT"
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$SYSROOT"; done

# Absolute symlinks (e.g. usr/lib/.../libfoo.so -> /lib/...) would point at the host.
while IFS= read -r -d '' link; do
  target="$(readlink "$link")"
  case "$target" in /*) ln -sfn "$SYSROOT$target" "$link" ;; esac
done < <(find "$SYSROOT" -type l -print0)

# CMake package files with absolute /usr paths.
while IFS= read -r -d '' f; do
  sed -i -e "s#\"/usr/#\"$SYSROOT/usr/#g" -e "s#;/usr/#;$SYSROOT/usr/#g" \
         -e "s#\"/usr\"#\"$SYSROOT/usr\"#g" "$f"
done < <(find "$SYSROOT/usr/lib" -path '*/cmake/*' -name '*.cmake' -print0)

# GNU ld scripts (libc.so, libm.so from libc6-dev, which PoCL pulls in) name absolute paths.
while IFS= read -r -d '' f; do
  if head -c 200 "$f" | grep -q 'GNU ld script'; then
    sed -i -E "s#([ (])/(usr/)?lib/#\\1$SYSROOT/\\2lib/#g" "$f"
  fi
done < <(find "$SYSROOT" -name '*.so' -type f -size -4k -print0)

# OpenCL ICD files name a bare soname (libpocl.so.2.10.0). Made absolute into the sysroot, the
# driver is loaded from a real host path, so that what it derives from its own location (PoCL's
# kernel library in ../../share/pocl) exists on the host too: qemu-user redirects open() into the
# -L prefix, but not access()/stat(), which PoCL uses to probe for those files.
for icd in "$SYSROOT"/etc/OpenCL/vendors/*.icd; do
  [ -e "$icd" ] || continue
  lib="$(head -n1 "$icd")"
  case "$lib" in
    /*) ;;
    *) echo "$SYSROOT/usr/lib/aarch64-linux-gnu/$lib" > "$icd" ;;
  esac
done

# PoCL links each compiled kernel into a .so through the clang driver, which runs `ld` from PATH
# as a host process (qemu-user cannot exec an aarch64 ld without binfmt_misc; the host's own ld
# knows no aarch64). host-bin/ld is the cross linker with the cross libgcc paths: put
# $SYSROOT/host-bin first in PATH when running OpenCL programs under qemu.
if [ "$WITH_POCL" = 1 ]; then
  mkdir -p "$SYSROOT/host-bin"
  libgcc_dir="$(dirname "$(aarch64-linux-gnu-gcc -print-libgcc-file-name)")"
  printf '#!/bin/sh\nexec /usr/bin/aarch64-linux-gnu-ld -L%s -L/usr/aarch64-linux-gnu/lib "$@"\n' \
    "$libgcc_dir" > "$SYSROOT/host-bin/ld"
  chmod +x "$SYSROOT/host-bin/ld"
  ln -sf ld "$SYSROOT/host-bin/aarch64-unknown-linux-gnu-ld"
fi

rm -rf "$APTDIR"
echo "$want" > "$stamp"
echo "arm64 sysroot ready: $SYSROOT"
