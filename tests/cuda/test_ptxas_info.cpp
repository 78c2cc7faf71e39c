#include <catch2/catch.hpp>

#include "runtime/cuda/ptxas_info.h"

using resnetc::cuda::parse_ptxas_info;

// Logs as NVRTC 13.0 writes them with --ptxas-options=-v for sm_90.
TEST_CASE("ptxas info: stack frame, spills and registers per function", "[cuda][ptxas]") {
  const char* log =
      "ptxas warning : For profile sm_90 adjusting per thread register count of 16 to lower bound of 24\n"
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
      "ptxas info    : Function properties for k\n"
      "ptxas         .     5152 bytes stack frame, 10532 bytes spill stores, 10528 bytes spill loads\n"
      "ptxas info    : Used 64 registers, used 0 barriers, 5152 bytes cumulative stack size\n"
      "ptxas info    : Compile time = 1409.840 ms\n"
      "ptxas info    : Function properties for _Z1fPKfi\n"
      "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Compiling entry function 'clean' for 'sm_90'\n"
      "ptxas info    : Function properties for clean\n"
      "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 10 registers, used 0 barriers\n";
  const auto functions = parse_ptxas_info(log);
  REQUIRE(functions.size() == 3);

  CHECK(functions[0].name == "k");
  CHECK(functions[0].entry);
  CHECK(functions[0].registers == 64);
  CHECK(functions[0].stack_frame_bytes == 5152);
  CHECK(functions[0].spill_store_bytes == 10532);
  CHECK(functions[0].spill_load_bytes == 10528);
  CHECK(functions[0].uses_local_memory());

  CHECK(functions[1].name == "_Z1fPKfi");
  CHECK_FALSE(functions[1].entry);
  CHECK(functions[1].registers == 0);
  CHECK_FALSE(functions[1].uses_local_memory());

  CHECK(functions[2].name == "clean");
  CHECK(functions[2].registers == 10);
  CHECK_FALSE(functions[2].uses_local_memory());
}

TEST_CASE("ptxas info: spills alone count as local memory", "[cuda][ptxas]") {
  const auto functions = parse_ptxas_info(
      "ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
      "ptxas info    : Function properties for k\n"
      "ptxas         .     0 bytes stack frame, 8 bytes spill stores, 0 bytes spill loads\n");
  REQUIRE(functions.size() == 1);
  CHECK(functions[0].spill_store_bytes == 8);
  CHECK(functions[0].uses_local_memory());
}

TEST_CASE("ptxas info: the older 'bytes lmem' form", "[cuda][ptxas]") {
  const auto functions = parse_ptxas_info(
      "ptxas info    : Compiling entry function 'old' for 'sm_52'\n"
      "ptxas info    : Used 22 registers, 48 bytes lmem, 352 bytes cmem[0]\n");
  REQUIRE(functions.size() == 1);
  CHECK(functions[0].registers == 22);
  CHECK(functions[0].lmem_bytes == 48);
  CHECK(functions[0].uses_local_memory());
}

TEST_CASE("ptxas info: logs without a report give no functions", "[cuda][ptxas]") {
  CHECK(parse_ptxas_info("").empty());
  CHECK(parse_ptxas_info("u.cu(3): warning: something\nptxas info    : 0 bytes gmem\n").empty());
}
