# What the binary says about its build (cmd/version.cpp, `kubectl ir version -o json`), baked into
# the generated build_info.hpp: the version, the git commit and tree state, the build date, the
# build type, and the versions of the dependencies that have no version macro of their own (the
# others come from their headers' macros in cmd/version.cpp).
#
# Reproducible: the build date is SOURCE_DATE_EPOCH when set, else the commit's time (never the
# clock), so two builds of one commit say the same. IR_GIT_COMMIT may be given (-D) for a build
# from a source tarball without .git.
if(NOT IR_GIT_COMMIT)
  set(IR_GIT_COMMIT "unknown")
endif()
set(IR_GIT_TREE_STATE "unknown")
set(_ir_commit_time "")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE _ir_commit OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE _git_rc)
  if(_git_rc EQUAL 0 AND NOT _ir_commit STREQUAL "")
    set(IR_GIT_COMMIT "${_ir_commit}")
    # Tracked files only: a build directory or an untracked scratch file is not a change.
    execute_process(COMMAND ${GIT_EXECUTABLE} status --porcelain --untracked-files=no
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE _ir_status OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_ir_status STREQUAL "")
      set(IR_GIT_TREE_STATE "clean")
    else()
      set(IR_GIT_TREE_STATE "dirty")
    endif()
    execute_process(COMMAND ${GIT_EXECUTABLE} log -1 --format=%ct
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE _ir_commit_time OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
endif()
# string(TIMESTAMP) itself honours SOURCE_DATE_EPOCH; without it, the commit time stands in.
if(NOT DEFINED ENV{SOURCE_DATE_EPOCH} AND NOT _ir_commit_time STREQUAL "")
  set(ENV{SOURCE_DATE_EPOCH} "${_ir_commit_time}")
endif()
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  string(TIMESTAMP IR_BUILD_DATE "%Y-%m-%dT%H:%M:%SZ" UTC)
else()
  set(IR_BUILD_DATE "unknown")
endif()
set(IR_BUILD_TYPE "${CMAKE_BUILD_TYPE}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/build_info.hpp.in ${PROJECT_BINARY_DIR}/generated/build_info.hpp @ONLY)
