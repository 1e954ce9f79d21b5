// SecretKey: secure buffer semantics (zeroed, move empties, explicit clone, constant-time equals).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <utility>

#include "crypto/secret_key.hpp"
#include "test_support.hpp"

namespace jindisk::crypto {
namespace {

using test::all_zero;
using test::to_vec;

std::array<uint8_t, kKeySize> pattern_bytes(uint8_t seed) {
  std::array<uint8_t, kKeySize> bytes;
  test::fill_pattern(bytes, seed);
  return bytes;
}

TEST_CASE("a new key is allocated and zeroed") {
  SecretKey key;
  REQUIRE_FALSE(key.empty());
  CHECK(all_zero(key.bytes()));
}

TEST_CASE("random keys are non-zero and differ") {
  SecretKey a = SecretKey::random();
  SecretKey b = SecretKey::random();
  CHECK_FALSE(all_zero(a.bytes()));
  CHECK_FALSE(a.equals(b));
  CHECK(to_vec(a.bytes()) != to_vec(b.bytes()));
}

TEST_CASE("from_bytes keeps the bytes") {
  const auto bytes = pattern_bytes(1);
  SecretKey key = SecretKey::from_bytes(bytes);
  CHECK(std::equal(bytes.begin(), bytes.end(), key.bytes().begin()));
}

TEST_CASE("equals is true for equal bytes and false if any byte differs") {
  const auto bytes = pattern_bytes(2);
  SecretKey key = SecretKey::from_bytes(bytes);
  CHECK(key.equals(SecretKey::from_bytes(bytes)));
  for (size_t pos : {size_t{0}, size_t{13}, kKeySize - 1}) {
    CAPTURE(pos);
    auto other = bytes;
    other[pos] ^= 1;
    CHECK_FALSE(key.equals(SecretKey::from_bytes(other)));
  }
}

TEST_CASE("clone is an equal but independent copy") {
  SecretKey key = SecretKey::random();
  SecretKey copy = key.clone();
  CHECK(copy.equals(key));
  CHECK(copy.bytes().data() != key.bytes().data());
  copy.mutable_bytes()[0] ^= 1;
  CHECK_FALSE(copy.equals(key));
}

TEST_CASE("moving a key leaves the source empty") {
  const auto bytes = pattern_bytes(3);
  SecretKey source = SecretKey::from_bytes(bytes);
  const uint8_t* buffer = source.bytes().data();

  SUBCASE("construction") {
    SecretKey target(std::move(source));
    CHECK(source.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    CHECK(target.bytes().data() == buffer);  // the buffer moved, no copy in ordinary memory
    CHECK(std::equal(bytes.begin(), bytes.end(), target.bytes().begin()));
  }
  SUBCASE("assignment") {
    SecretKey target = SecretKey::random();
    target = std::move(source);
    CHECK(source.empty());  // NOLINT(bugprone-use-after-move)
    CHECK(std::equal(bytes.begin(), bytes.end(), target.bytes().begin()));
  }
  SUBCASE("self-assignment keeps the key") {
    SecretKey& alias = source;  // through an alias, to reach the guard without a self-move warning
    source = std::move(alias);
    REQUIRE_FALSE(source.empty());
    CHECK(std::equal(bytes.begin(), bytes.end(), source.bytes().begin()));
  }
  SUBCASE("an empty key can be assigned to again") {
    SecretKey target(std::move(source));
    source = SecretKey::from_bytes(bytes);  // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(source.empty());
    CHECK(source.equals(target));
  }
}

TEST_CASE("using a moved-from key aborts with a clear message") {
  SecretKey source = SecretKey::random();
  SecretKey target(std::move(source));
  // NOLINTBEGIN(bugprone-use-after-move)
  test::check_aborts_with([&] { (void)source.bytes(); }, "bytes() on a moved-from key");
  test::check_aborts_with([&] { (void)source.mutable_bytes(); },
                          "mutable_bytes() on a moved-from key");
  test::check_aborts_with([&] { (void)source.clone(); }, "moved-from key");
  test::check_aborts_with([&] { (void)target.equals(source); }, "moved-from key");
  // NOLINTEND(bugprone-use-after-move)
}

}  // namespace
}  // namespace jindisk::crypto
