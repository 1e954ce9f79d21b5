// Metadata objects (XChaCha20-Poly1305, random nonce), the BLAKE2b tag MAC and random keys.
#include <doctest/doctest.h>
#include <sodium.h>

#include <array>
#include <set>
#include <vector>

#include "crypto/aead.hpp"
#include "test_support.hpp"

namespace jindisk::crypto {
namespace {

using test::all_zero;
using test::fill_pattern;

struct SealedObject {
  KeyBytes key = random_key();
  std::vector<uint8_t> ad = std::vector<uint8_t>(33);
  std::vector<uint8_t> plain;
  std::vector<uint8_t> cipher_text;
  ObjectNonce nonce{};
  Tag tag{};
};

SealedObject seal_sample(size_t size) {
  SealedObject s;
  fill_pattern(s.ad, 5);
  s.plain.resize(size);
  fill_pattern(s.plain, 11);
  s.cipher_text.resize(size);
  seal_object(s.key, s.ad, s.plain, s.cipher_text, s.nonce, s.tag);
  return s;
}

// Opens into a non-zero buffer so that "zeroed on failure" is observable.
Status open_into(const SealedObject& s, std::span<const uint8_t> ad,
                 std::span<const uint8_t> cipher_text, const ObjectNonce& nonce, const Tag& tag,
                 std::vector<uint8_t>& out) {
  out.assign(cipher_text.size(), 0);
  fill_pattern(out, 77);
  return open_object(s.key, ad, cipher_text, nonce, tag, out);
}

TEST_CASE("objects of any length round trip") {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, size_t{65537}}) {
    CAPTURE(size);
    SealedObject s = seal_sample(size);
    if (size > 0) CHECK(s.cipher_text != s.plain);
    std::vector<uint8_t> out;
    REQUIRE(open_into(s, s.ad, s.cipher_text, s.nonce, s.tag, out).is_ok());
    CHECK(out == s.plain);
  }
}

TEST_CASE("object sealing is raw XChaCha20-Poly1305 under the returned nonce") {
  SealedObject s = seal_sample(300);
  std::vector<uint8_t> expected(s.plain.size());
  Tag expected_tag;
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      expected.data(), expected_tag.data(), nullptr, s.plain.data(), s.plain.size(), s.ad.data(),
      s.ad.size(), nullptr, s.nonce.data(), s.key.data());
  CHECK(s.cipher_text == expected);
  CHECK(s.tag == expected_tag);
}

TEST_CASE("each seal of the same object draws a fresh nonce") {
  const KeyBytes key = random_key();
  std::vector<uint8_t> plain(64);
  fill_pattern(plain, 1);
  std::set<ObjectNonce> nonces;
  std::set<std::vector<uint8_t>> cipher_texts;
  for (int i = 0; i < 16; ++i) {
    std::vector<uint8_t> out(plain.size());
    ObjectNonce nonce{};
    Tag tag;
    seal_object(key, {}, plain, out, nonce, tag);
    CHECK_FALSE(all_zero(nonce));
    nonces.insert(nonce);
    cipher_texts.insert(out);
  }
  CHECK(nonces.size() == 16);
  CHECK(cipher_texts.size() == 16);
}

TEST_CASE("a tampered object is refused and the output wiped") {
  SealedObject s = seal_sample(1000);
  std::vector<uint8_t> out;

  SUBCASE("nonce") {
    for (size_t pos : {size_t{0}, size_t{12}, kObjectNonceSize - 1}) {
      CAPTURE(pos);
      ObjectNonce nonce = s.nonce;
      nonce[pos] ^= 0x04;
      CHECK(open_into(s, s.ad, s.cipher_text, nonce, s.tag, out).code() == Code::kCorruption);
      CHECK(all_zero(out));
    }
  }
  SUBCASE("cipher text") {
    for (size_t pos : {size_t{0}, size_t{1}, size_t{500}, s.cipher_text.size() - 1}) {
      CAPTURE(pos);
      std::vector<uint8_t> ct = s.cipher_text;
      ct[pos] ^= 0x40;
      CHECK(open_into(s, s.ad, ct, s.nonce, s.tag, out).code() == Code::kCorruption);
      CHECK(all_zero(out));
    }
    // A truncated object must not verify either.
    std::vector<uint8_t> shorter(s.cipher_text.begin(), s.cipher_text.end() - 1);
    CHECK(open_into(s, s.ad, shorter, s.nonce, s.tag, out).code() == Code::kCorruption);
  }
  SUBCASE("tag") {
    for (size_t pos = 0; pos < kTagSize; ++pos) {
      CAPTURE(pos);
      Tag tag = s.tag;
      tag[pos] ^= 0x80;
      CHECK(open_into(s, s.ad, s.cipher_text, s.nonce, tag, out).code() == Code::kCorruption);
      CHECK(all_zero(out));
    }
  }
  SUBCASE("associated data") {
    std::vector<uint8_t> ad = s.ad;
    ad.back() ^= 1;
    CHECK(open_into(s, ad, s.cipher_text, s.nonce, s.tag, out).code() == Code::kCorruption);
    CHECK(all_zero(out));
    ad = s.ad;
    ad.push_back(0);
    CHECK(open_into(s, ad, s.cipher_text, s.nonce, s.tag, out).code() == Code::kCorruption);
  }
  SUBCASE("key") {
    SealedObject other = s;
    other.key[0] ^= 1;
    CHECK(open_into(other, s.ad, s.cipher_text, s.nonce, s.tag, out).code() == Code::kCorruption);
    CHECK(all_zero(out));
  }
}

TEST_CASE("an empty object still authenticates its associated data") {
  SealedObject s = seal_sample(0);
  std::vector<uint8_t> out;
  CHECK(open_into(s, s.ad, {}, s.nonce, s.tag, out).is_ok());
  std::vector<uint8_t> ad = s.ad;
  ad[3] ^= 1;
  CHECK(open_into(s, ad, {}, s.nonce, s.tag, out).code() == Code::kCorruption);
  Tag tag = s.tag;
  tag[0] ^= 1;
  CHECK(open_into(s, s.ad, {}, s.nonce, tag, out).code() == Code::kCorruption);
}

TEST_CASE("objects seal and open in place") {
  SealedObject s = seal_sample(777);
  std::vector<uint8_t> buf = s.plain;
  ObjectNonce nonce;
  Tag tag;
  seal_object(s.key, s.ad, buf, buf, nonce, tag);
  CHECK(buf != s.plain);
  REQUIRE(open_object(s.key, s.ad, buf, nonce, tag, buf).is_ok());
  CHECK(buf == s.plain);
}

TEST_CASE("object calls with mismatched buffer sizes abort") {
  const KeyBytes key = random_key();
  std::vector<uint8_t> plain(10);
  std::vector<uint8_t> out(9);
  ObjectNonce nonce{};
  Tag tag{};
  test::check_aborts_with([&] { seal_object(key, {}, plain, out, nonce, tag); },
                          "seal_object: out.size() != plain.size()");
  test::check_aborts_with([&] { (void)open_object(key, {}, plain, nonce, tag, out); },
                          "open_object: out.size() != cipher_text.size()");
}

TEST_CASE("random keys differ") {
  std::set<KeyBytes> keys;
  for (int i = 0; i < 32; ++i) keys.insert(random_key());
  CHECK(keys.size() == 32);
  CHECK_FALSE(all_zero(*keys.begin()));
}

TEST_CASE("mac is keyed BLAKE2b-128 and depends on key and message") {
  KeyBytes key = random_key();
  std::vector<uint8_t> message(200);
  fill_pattern(message, 9);
  const Tag tag = mac(key, message);

  Tag expected;
  crypto_generichash(expected.data(), expected.size(), message.data(), message.size(),
                     key.data(), key.size());
  CHECK(tag == expected);
  CHECK(mac(key, message) == tag);  // deterministic

  std::vector<uint8_t> changed = message;
  changed[199] ^= 1;
  CHECK_FALSE(tags_equal(mac(key, changed), tag));
  KeyBytes other_key = key;
  other_key[0] ^= 1;
  CHECK_FALSE(tags_equal(mac(other_key, message), tag));
  CHECK_FALSE(all_zero(mac(key, {})));
}

TEST_CASE("tags_equal compares every byte") {
  Tag a;
  fill_pattern(a, 4);
  CHECK(tags_equal(a, a));
  for (size_t pos = 0; pos < kTagSize; ++pos) {
    CAPTURE(pos);
    Tag b = a;
    b[pos] ^= 1;
    CHECK_FALSE(tags_equal(a, b));
  }
}

}  // namespace
}  // namespace jindisk::crypto
