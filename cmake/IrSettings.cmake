# Compile settings shared by every target.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Debug CACHE STRING "Build type" FORCE)
endif()

add_library(ir_settings INTERFACE)
target_compile_definitions(ir_settings INTERFACE $<$<CONFIG:Debug>:_GLIBCXX_ASSERTIONS>)
if(IR_SANITIZE)
  target_compile_options(ir_settings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
  target_link_options(ir_settings INTERFACE -fsanitize=address,undefined)
endif()

add_library(ir_warnings INTERFACE)
target_compile_options(ir_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wsign-conversion -Wnon-virtual-dtor
                                             $<$<BOOL:${IR_WERROR}>:-Werror>)
# Designated initialisers name the fields they set and leave the rest to their default member
# initialisers ({.step = "pod", .method = Method::api}): that is the point of them, but GCC's
# -Wextra still calls every field left out "missing" (clang does not). Off, for GCC only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(ir_warnings INTERFACE -Wno-missing-field-initializers)
endif()
# GCC 12 at -O2/-O3 reports -Wrestrict inside libstdc++'s std::string concatenation (GCC bug
# 105329, a false positive fixed in GCC 13): keep it a warning there, not an error.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(ir_warnings INTERFACE $<$<BOOL:${IR_WERROR}>:-Wno-error=restrict>)
endif()

# IR_UNITY (the release and sanitizer presets; not dev, where one edited source should recompile
# alone): each library (the lib/ modules, cmd/'s ir_cli) compiles its sources in batches of eight,
# one compiler run per batch, so the headers they share (nlohmann/json, fmt, the standard library)
# are parsed, instantiated and optimised once per batch rather than once per source. Measured on
# 2 cores from nothing: the release libraries 366 s -> 159 s, the sanitizer ones 469 s -> 193 s.
# It also keeps lib/ honest: two sources of one module cannot each define the same helper. The
# tests stay one source per compiler run (their file-scope using-directives and fixtures are meant
# for one file). Sources listed in IR_UNITY_EXCLUDED compile on their own even so (a source's
# properties belong to a directory: they are set where each target is). GCC takes a class with a
# member whose type lives in a source's anonymous namespace (each pimpl's Impl) for a header's
# class with an internal-linkage member once that source is included by another: not the case
# here, so that warning is off.
function(ir_unity target)
  if(IR_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
    if(IR_UNITY_EXCLUDED)
      set_source_files_properties(${IR_UNITY_EXCLUDED} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endif()
endfunction()
if(IR_UNITY AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(ir_warnings INTERFACE -Wno-subobject-linkage)
endif()

if(IR_CLANG_TIDY)
  find_program(CLANG_TIDY_EXE NAMES clang-tidy REQUIRED)
  set(CMAKE_CXX_CLANG_TIDY ${CLANG_TIDY_EXE})
endif()

# ir_module(NAME SOURCES... DEPENDS ...): one static library per lib/ module, includes rooted at lib/.
function(ir_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(ir_${name} STATIC ${M_SOURCES})
  add_library(ir::${name} ALIAS ir_${name})
  target_include_directories(ir_${name} PUBLIC ${PROJECT_SOURCE_DIR}/lib)
  target_link_libraries(ir_${name} PUBLIC ir_settings ${M_DEPENDS} PRIVATE ir_warnings)
  ir_unity(ir_${name})
endfunction()
