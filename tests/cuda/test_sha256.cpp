#include <catch2/catch.hpp>

#include <string>

#include "runtime/cache/sha256.h"

using resnetc::cache::Sha256;
using resnetc::cache::sha256_hex;
using resnetc::cache::to_hex;

// Vectors from FIPS 180-4's examples and NIST's SHA-256 test suite.
TEST_CASE("sha256 matches the standard test vectors", "[cuda][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnop"
                   "qrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("sha256 of a million 'a's fed in uneven pieces", "[cuda][sha256]") {
  const std::string a(1'000'000, 'a');
  Sha256 hash;
  std::size_t at = 0;
  for (std::size_t piece = 1; at < a.size(); piece = piece * 3 % 1000 + 1) {
    const std::size_t n = std::min(piece, a.size() - at);
    hash.update(std::string_view(a).substr(at, n));
    at += n;
  }
  CHECK(to_hex(hash.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 padding is right at every length around a block boundary", "[cuda][sha256]") {
  // One-shot and byte-by-byte hashing must agree; lengths 55, 56 and 64 hit the padding edges.
  for (std::size_t length : {55u, 56u, 63u, 64u, 65u, 119u, 120u}) {
    const std::string text(length, 'x');
    Sha256 bytewise;
    for (char c : text) {
      bytewise.update(std::string_view(&c, 1));
    }
    CHECK(to_hex(bytewise.finish()) == sha256_hex(text));
  }
  CHECK(sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}
