# IR_PORTABLE: a kubectl-ir that runs on a bare Debian bookworm / Ubuntu LTS with no -dev package,
# the release archive's build (the `release` preset sets it; dev and asan builds are unchanged).
#
# What the binary needs, and how it gets it (scripts/package.sh ships the shared part in lib/ and
# prints the resulting list; scripts/check-portable.sh proves it on a debootstrap minbase root):
#
#   static   yaml-cpp              Debian ships libyaml-cpp.a
#            libarchive            Debian ships libarchive.a; see the --gc-sections note below
#            expat                 Debian ships libexpat.a (custody's XML reader); no dependencies
#   shipped  libcurl + closure     libcurl.a would need static nghttp2, libssh2, librtmp, libpsl,
#                                  libidn2, brotli, zstd, GSSAPI/Kerberos and OpenLDAP (+ GnuTLS,
#                                  SASL): Kerberos, GnuTLS and SASL have no .a in Debian, and the
#                                  protocol table in url.c keeps every handler alive, so no static
#                                  link is possible. Debian's own libcurl.so.4 and its dependency
#                                  closure go beside the binary instead: the exact binaries Debian
#                                  tests, loaded through the run-path below.
#            OpenSSL               libcurl.so.4 and libssh2 load libssl.so.3/libcrypto.so.3 anyway; a
#                                  static libcrypto.a in the executable as well would put two
#                                  OpenSSLs in one process (two sets of global state, and the
#                                  executable's copy interposing some of libcurl's calls).
#            fmt, simdjson         Debian ships them shared only (libfmt9, libsimdjson14).
#   system   glibc, zlib           Present on every Debian and Ubuntu root (priority `required`:
#            libstdc++, libgcc_s   dpkg and apt depend on them) and symbol-versioned, so a system
#                                  too old fails at load time with a clear message, never later.
#                                  zlib stays shared because libcurl and libssh2 need libz.so.1
#                                  anyway (one zlib in the process).
#
# libstdc++ and libgcc are NOT linked statically (-static-libstdc++ -static-libgcc), measured:
#   - GCC 12's libstdc++.a implements std::random_device with arc4random, new in glibc 2.36: the
#     static binary needs GLIBC_2.36 and no longer starts on Ubuntu 22.04 LTS (glibc 2.35), while
#     the system's libstdc++.so.6 there does without it. (libgcc_eh.a adds _dl_find_object, 2.35.)
#   - libsimdjson.so.14 needs libstdc++.so.6 all the same: a static copy would make two C++
#     runtimes (and, with -static-libgcc, two unwinders) in one process.
#   - It buys nothing where we claim to run: what is built on bookworm needs glibc >= 2.34 anyway,
#     and Debian 12 and Ubuntu 22.04 LTS and later all have GCC 12's libstdc++.so.6 or newer.
# scripts/package.sh fails the build if the archive ever needs newer symbol versions than Ubuntu
# 22.04 LTS has.
#
# Run-path: the executable gets RUNPATH $ORIGIN/lib (a DT_RUNPATH, not the legacy DT_RPATH, so
# LD_LIBRARY_PATH still overrides it when debugging). DT_RUNPATH is not inherited by libraries, so
# scripts/package.sh gives each shipped library RUNPATH $ORIGIN (patchelf): libcurl then finds
# libnghttp2 beside itself. In the build tree $ORIGIN/lib does not exist and the system's libraries
# are used, so build/release/cmd/kubectl-ir runs on the build machine as it is.
option(IR_PORTABLE "Link for the release archive: static where Debian ships .a, RUNPATH \$ORIGIN/lib for the rest" OFF)
if(NOT IR_PORTABLE)
  return()
endif()
if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux" OR NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  message(FATAL_ERROR "IR_PORTABLE supports Linux with GCC or Clang only")
endif()
if(IR_SANITIZE)
  message(FATAL_ERROR "IR_PORTABLE and IR_SANITIZE do not mix (the sanitizer runtimes are shared libraries)")
endif()

# ir_portable_use_static(TARGET LIBNAME): make an imported target link Debian's static archive
# instead of its shared library, for every imported configuration.
function(ir_portable_use_static target libname)
  find_library(IR_STATIC_${libname} NAMES lib${libname}.a NO_CACHE)
  if(NOT IR_STATIC_${libname})
    message(FATAL_ERROR "IR_PORTABLE: lib${libname}.a not found (Debian's -dev package ships it)")
  endif()
  get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
  if(NOT configs)
    set(configs "")
  endif()
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${IR_STATIC_${libname}}")
  set_property(TARGET ${target} PROPERTY IMPORTED_SONAME)
  foreach(config IN LISTS configs)
    set_target_properties(${target} PROPERTIES IMPORTED_LOCATION_${config} "${IR_STATIC_${libname}}")
    set_property(TARGET ${target} PROPERTY IMPORTED_SONAME_${config})
  endforeach()
  message(STATUS "IR_PORTABLE: ${target} links ${IR_STATIC_${libname}}")
endfunction()

ir_portable_use_static(yaml-cpp yaml-cpp)
ir_portable_use_static(EXPAT::EXPAT expat)
# libexpat.a salts its hashes with arc4random_buf (glibc 2.36, above the 2.35 floor): whatever
# links expat wraps it to cmake/portable_random.cpp's getrandom-based definition (glibc 2.25).
set_property(TARGET EXPAT::EXPAT APPEND PROPERTY INTERFACE_SOURCES ${PROJECT_SOURCE_DIR}/cmake/portable_random.cpp)
set_property(TARGET EXPAT::EXPAT APPEND PROPERTY INTERFACE_LINK_OPTIONS LINKER:--wrap=arc4random_buf)
# Each target linking expat gets that source; as its own object in a static library it is left
# there unless needed, but in a unity batch it would come along with the batch: one copy only.
list(APPEND IR_UNITY_EXCLUDED ${PROJECT_SOURCE_DIR}/cmake/portable_random.cpp)

# libarchive.a: archive_write_set_format_pax_restricted lives in an object whose format-by-name
# table references every writer (7-Zip, XAR, ZIP encryption...), which pull in liblzma, libbz2,
# nettle and libxml2 (and through it ICU). Debian compiles libarchive with -ffunction-sections, so
# --gc-sections drops those unreachable writers and with them every reference outside zlib.
# Should a libarchive update make one reachable, the link fails with an undefined reference: it
# cannot fail at run time. nettle is the exception: libcurl's closure (GnuTLS) brings
# libnettle.so.8 into the link, and ld refuses a symbol found only in such an indirect library
# ("DSO missing from command line") before it collects garbage. Naming libnettle.so.8 satisfies
# it, at the price of a DT_NEEDED on a library libcurl loads (and the archive ships) anyway.
# nettle-dev's libnettle.a would not do better: its fat-binary constructor keeps every SHA/AES
# implementation alive (+60 KB of code, measured), a second nettle in the process.
ir_portable_use_static(LibArchive::LibArchive archive)
find_library(IR_NETTLE NAMES libnettle.so.8 NO_CACHE)
if(NOT IR_NETTLE)
  message(FATAL_ERROR "IR_PORTABLE: libnettle.so.8 not found (libnettle8, a dependency of libcurl4)")
endif()
find_package(ZLIB REQUIRED)   # lib/ finds it again and reuses this target
set_property(TARGET LibArchive::LibArchive APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${IR_NETTLE} ZLIB::ZLIB)

# Our own code in sections too, so that --gc-sections also trims what we and the static libraries
# leave unused (smaller archive, faster cold start).
add_compile_options(-ffunction-sections -fdata-sections)
# Reproducible (scripts/check-reproducible.sh): whatever records a source or build path (__FILE__,
# debug information) records it relative to the checkout, so two checkouts build the same bytes.
add_compile_options(-ffile-prefix-map=${PROJECT_SOURCE_DIR}/= -ffile-prefix-map=${PROJECT_BINARY_DIR}/=)
add_link_options(LINKER:--gc-sections
                 LINKER:--as-needed        # no DT_NEEDED for a library nothing references
                 LINKER:--enable-new-dtags # RUNPATH, not RPATH
                 LINKER:-z,now,-z,relro)   # resolve at start: a missing symbol fails at once

# Exactly $ORIGIN/lib, in the build tree too: a build run-path would otherwise get CMake's padding,
# an empty entry (":" at the end), which the loader reads as the current directory.
set(CMAKE_INSTALL_RPATH "$ORIGIN/lib")
set(CMAKE_BUILD_WITH_INSTALL_RPATH ON)
