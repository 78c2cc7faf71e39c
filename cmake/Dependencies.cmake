# fmt: the packaged library where installed; header-only from .deps/include on the GPU machine,
# which has no fmt package (tools/gpu-check copies the headers there).
set(RESNETC_DEPS_DIR "${PROJECT_SOURCE_DIR}/.deps/include" CACHE PATH "Vendored headers (fmt, CLI11, catch2) for machines without the packages")

find_package(fmt CONFIG QUIET)
add_library(resnetc_fmt INTERFACE)
if(fmt_FOUND)
  target_link_libraries(resnetc_fmt INTERFACE fmt::fmt)
elseif(EXISTS "${RESNETC_DEPS_DIR}/fmt/format.h")
  target_include_directories(resnetc_fmt SYSTEM INTERFACE "${RESNETC_DEPS_DIR}")
  target_compile_definitions(resnetc_fmt INTERFACE FMT_HEADER_ONLY=1)
else()
  message(FATAL_ERROR "fmt not found: install libfmt-dev, or copy its headers to ${RESNETC_DEPS_DIR}/fmt")
endif()

# CLI11 (the command line's parser) is header-only: Debian's libcli11-dev, or its headers in .deps/include.
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp PATHS "${RESNETC_DEPS_DIR}" /usr/include NO_DEFAULT_PATH)
if(NOT CLI11_INCLUDE_DIR)
  message(FATAL_ERROR "CLI11 not found: install libcli11-dev, or copy its headers to ${RESNETC_DEPS_DIR}/CLI")
endif()
add_library(resnetc_cli11 INTERFACE)
target_include_directories(resnetc_cli11 SYSTEM INTERFACE "${CLI11_INCLUDE_DIR}")

if(RESNETC_BUILD_TESTS)
  find_path(CATCH2_INCLUDE_DIR catch2/catch.hpp PATHS "${RESNETC_DEPS_DIR}" /usr/include NO_DEFAULT_PATH)
  if(NOT CATCH2_INCLUDE_DIR)
    message(FATAL_ERROR "Catch2 v2 not found: install catch2, or copy catch2/catch.hpp to ${RESNETC_DEPS_DIR}")
  endif()
endif()
