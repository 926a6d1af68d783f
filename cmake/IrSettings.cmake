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
endfunction()
