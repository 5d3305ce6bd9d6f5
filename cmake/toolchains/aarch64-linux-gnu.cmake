# CMake toolchain file: cross-build libedgellm for aarch64 Linux (RK3588 boards) on an x86-64
# Debian 12 host with Debian's cross compiler (g++-aarch64-linux-gnu) and an arm64 package sysroot
# made by cmake/toolchains/make-arm64-sysroot.sh; tests run under qemu-aarch64 (ctest uses
# CMAKE_CROSSCOMPILING_EMULATOR).
#
#   bash cmake/toolchains/make-arm64-sysroot.sh build-arm64/sysroot
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#
# The sysroot is EDGELLM_ARM64_SYSROOT (cache variable or environment), by default
# <source>/build-arm64/sysroot. It is deliberately NOT passed as CMAKE_SYSROOT (--sysroot): it holds
# only the project's dependencies (no libc6-dev), while libc/libstdc++ headers and startup files come
# from the cross toolchain's own /usr/aarch64-linux-gnu. CMake's find_* calls are re-rooted into it
# with CMAKE_FIND_ROOT_PATH; pkg-config through PKG_CONFIG_LIBDIR + PKG_CONFIG_SYSROOT_DIR; the
# linker finds the dependencies' own dependencies (libOpenCL.so.1 for libclblast) by -rpath-link.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(NOT EDGELLM_ARM64_SYSROOT)
  if(DEFINED ENV{EDGELLM_ARM64_SYSROOT})
    set(EDGELLM_ARM64_SYSROOT "$ENV{EDGELLM_ARM64_SYSROOT}")
  else()
    get_filename_component(EDGELLM_ARM64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../../build-arm64/sysroot"
                           ABSOLUTE)
  endif()
endif()
if(NOT EXISTS "${EDGELLM_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "no arm64 sysroot at ${EDGELLM_ARM64_SYSROOT}: run "
                      "cmake/toolchains/make-arm64-sysroot.sh ${EDGELLM_ARM64_SYSROOT} first")
endif()
# Seen by try_compile projects too (they re-read this file).
set(ENV{EDGELLM_ARM64_SYSROOT} "${EDGELLM_ARM64_SYSROOT}")

set(CMAKE_FIND_ROOT_PATH "${EDGELLM_ARM64_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # host tools (pkg-config, python)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see only the arm64 .pc files, and prefix their -I/-L with the sysroot.
set(ENV{PKG_CONFIG_LIBDIR}
    "${EDGELLM_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${EDGELLM_ARM64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGELLM_ARM64_SYSROOT}")

set(_edgellm_rpath_link
    "-Wl,-rpath-link,${EDGELLM_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,${EDGELLM_ARM64_SYSROOT}/lib/aarch64-linux-gnu")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_edgellm_rpath_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_edgellm_rpath_link}")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "${_edgellm_rpath_link}")

# ctest (and add_custom_command users of the target file) run aarch64 programs through qemu-user;
# -L makes the dynamic loader and every /lib, /usr/lib, /etc path (OpenCL ICD files) resolve in the
# sysroot first.
find_program(EDGELLM_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(EDGELLM_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${EDGELLM_QEMU_AARCH64};-L;${EDGELLM_ARM64_SYSROOT}")
endif()
