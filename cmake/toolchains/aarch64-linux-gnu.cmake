# Cross build for linux/arm64 (the `release-arm64` preset): Debian's aarch64 cross compiler
# (g++-aarch64-linux-gnu, installed by scripts/setup-deps.sh) against a sysroot holding Debian's
# arm64 -dev packages (scripts/debian-root.sh sysroot arm64 makes and caches it; it says why the
# host's multiarch cannot hold them). Programs built here run under qemu-user: ctest and
# scripts/test.sh run the unit tests through CMAKE_CROSSCOMPILING_EMULATOR.
#
#   IR_SYSROOT (cache variable or environment): the sysroot; default the cached one.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(NOT IR_SYSROOT)
  if(DEFINED ENV{IR_SYSROOT})
    set(IR_SYSROOT "$ENV{IR_SYSROOT}")
  else()
    set(IR_SYSROOT /var/cache/kubectl-ir/sysroot-bookworm-arm64)
  endif()
endif()
set(IR_SYSROOT "${IR_SYSROOT}" CACHE PATH "Sysroot with Debian's arm64 -dev packages (scripts/debian-root.sh)")
if(NOT EXISTS "${IR_SYSROOT}/usr/include/yaml-cpp")
  message(FATAL_ERROR "IR_SYSROOT ${IR_SYSROOT} has no arm64 -dev packages: run scripts/debian-root.sh sysroot arm64")
endif()
set(CMAKE_SYSROOT "${IR_SYSROOT}")
# try_compile projects see the sysroot too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES IR_SYSROOT)

# Headers, libraries and CMake packages from the sysroot only; programs (git, python) from the host.
set(CMAKE_FIND_ROOT_PATH "${IR_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${IR_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${IR_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${IR_SYSROOT}/usr/share/pkgconfig")

# -L: the guest's loader and libraries come from the sysroot.
find_program(IR_QEMU_AARCH64 qemu-aarch64-static)
if(IR_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${IR_QEMU_AARCH64};-L;${IR_SYSROOT}")
endif()
