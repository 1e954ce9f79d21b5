// Data-block sealing: round trips, the on-disk format (all-zero nonce), and that every kind of
// tampering is refused with the output wiped.
#include <doctest/doctest.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <set>
#include <vector>

#include "crypto/aead.hpp"
#include "test_support.hpp"

namespace jindisk::crypto {
namespace {

using test::all_zero;
using test::fill_pattern;
using Block = std::array<uint8_t, kBlockSize>;

// Every cipher this CPU can run; AES-256-GCM is skipped (with a note) without AES-NI.
std::vector<Cipher> usable_ciphers() {
  std::vector<Cipher> ciphers{Cipher::kChaCha20Poly1305};
  if (cipher_available(Cipher::kAes256Gcm)) {
    ciphers.push_back(Cipher::kAes256Gcm);
  } else {
    MESSAGE("AES-256-GCM unavailable on this CPU: its block tests are skipped");
  }
  return ciphers;
}

struct Sealed {
  KeyBytes key = random_key();
  std::array<uint8_t, 20> ad{};
  Block plain{};
  Block cipher_text{};
  Tag tag{};
};

Sealed seal_sample(Cipher cipher) {
  Sealed s;
  fill_pattern(s.ad, 7);
  fill_pattern(s.plain, 42);
  seal_block(cipher, s.key, s.ad, s.plain, s.cipher_text, s.tag);
  return s;
}

// Opens into a buffer pre-filled with non-zero bytes, so "zeroed on failure" is observable.
Status open_into(Cipher cipher, const KeyBytes& key, std::span<const uint8_t> ad,
                 const Block& cipher_text, const Tag& tag, Block& out) {
  fill_pattern(out, 99);
  return open_block(cipher, key, ad, cipher_text, tag, out);
}

TEST_CASE("cipher names and availability") {
  CHECK(std::string(cipher_name(Cipher::kAes256Gcm)) == "aes-256-gcm");
  CHECK(std::string(cipher_name(Cipher::kChaCha20Poly1305)) == "chacha20-poly1305");
  CHECK(cipher_available(Cipher::kChaCha20Poly1305));
  CHECK(cipher_available(preferred_cipher()));
  CHECK(cipher_available(Cipher::kAes256Gcm) == (crypto_aead_aes256gcm_is_available() != 0));
  CHECK(preferred_cipher() == (crypto_aead_aes256gcm_is_available() ? Cipher::kAes256Gcm
                                                                      : Cipher::kChaCha20Poly1305));
  CHECK_FALSE(cipher_available(static_cast<Cipher>(0)));
  CHECK_FALSE(cipher_available(static_cast<Cipher>(77)));
}

TEST_CASE("a sealed block opens to its plaintext and does not reveal it") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    CHECK(s.cipher_text != s.plain);
    CHECK_FALSE(all_zero(s.tag));
    Block out;
    REQUIRE(open_into(cipher, s.key, s.ad, s.cipher_text, s.tag, out).is_ok());
    CHECK(out == s.plain);
  }
}

TEST_CASE("block sealing is the raw libsodium AEAD with an all-zero 12-byte nonce") {
  // Locks the on-disk format: images written by one build must open in the next.
  const uint8_t nonce[12] = {};
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    Block expected;
    Tag expected_tag;
    if (cipher == Cipher::kAes256Gcm) {
      crypto_aead_aes256gcm_encrypt_detached(expected.data(), expected_tag.data(), nullptr,
                                             s.plain.data(), s.plain.size(), s.ad.data(),
                                             s.ad.size(), nullptr, nonce, s.key.data());
    } else {
      crypto_aead_chacha20poly1305_ietf_encrypt_detached(
          expected.data(), expected_tag.data(), nullptr, s.plain.data(), s.plain.size(),
          s.ad.data(), s.ad.size(), nullptr, nonce, s.key.data());
    }
    CHECK(s.cipher_text == expected);
    CHECK(s.tag == expected_tag);
  }
}

TEST_CASE("the two block ciphers are not interchangeable") {
  if (!cipher_available(Cipher::kAes256Gcm)) {
    MESSAGE("AES-256-GCM unavailable: skipped");
    return;
  }
  Sealed s = seal_sample(Cipher::kAes256Gcm);
  Block chacha;
  Tag chacha_tag;
  seal_block(Cipher::kChaCha20Poly1305, s.key, s.ad, s.plain, chacha, chacha_tag);
  CHECK(chacha != s.cipher_text);
  Block out;
  CHECK(open_into(Cipher::kChaCha20Poly1305, s.key, s.ad, s.cipher_text, s.tag, out).code() ==
        Code::kCorruption);
  CHECK(all_zero(out));
}

TEST_CASE("a block does not open under a different key") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    KeyBytes other = s.key;
    other[31] ^= 1;  // the nearest possible wrong key
    Block out;
    Status st = open_into(cipher, other, s.ad, s.cipher_text, s.tag, out);
    CHECK(st.code() == Code::kCorruption);
    CHECK(st.message() == "block authentication failed");
    CHECK(all_zero(out));
  }
}

TEST_CASE("a block does not open with different associated data") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    Block out;
    auto ad = s.ad;
    ad[0] ^= 0x80;
    CHECK(open_into(cipher, s.key, ad, s.cipher_text, s.tag, out).code() == Code::kCorruption);
    CHECK(all_zero(out));
    // Dropping the ad entirely (e.g. a block moved to another address) must also fail.
    CHECK(open_into(cipher, s.key, {}, s.cipher_text, s.tag, out).code() == Code::kCorruption);
    CHECK(all_zero(out));
  }
}

TEST_CASE("flipping any single ciphertext byte is detected and the output is wiped") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    // Every position, first and last included; one CHECK per kind so failures stay readable.
    size_t accepted = 0;
    size_t not_wiped = 0;
    for (size_t pos = 0; pos < kBlockSize; ++pos) {
      Block tampered = s.cipher_text;
      tampered[pos] ^= static_cast<uint8_t>(1u << (pos % 8));
      Block out;
      if (open_into(cipher, s.key, s.ad, tampered, s.tag, out).code() != Code::kCorruption) {
        ++accepted;
      }
      if (!all_zero(out)) ++not_wiped;
    }
    CHECK(accepted == 0);
    CHECK(not_wiped == 0);
  }
}

TEST_CASE("flipping any tag byte is detected and the output is wiped") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    for (size_t pos = 0; pos < kTagSize; ++pos) {
      CAPTURE(pos);
      Tag tag = s.tag;
      tag[pos] ^= 0x01;
      Block out;
      CHECK(open_into(cipher, s.key, s.ad, s.cipher_text, tag, out).code() == Code::kCorruption);
      CHECK(all_zero(out));
    }
  }
}

TEST_CASE("the same plaintext under two random keys gives unrelated ciphertexts") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Block plain;
    fill_pattern(plain, 3);
    Block a;
    Block b;
    Tag tag_a;
    Tag tag_b;
    seal_block(cipher, random_key(), {}, plain, a, tag_a);
    seal_block(cipher, random_key(), {}, plain, b, tag_b);
    CHECK(a != b);
    CHECK_FALSE(tags_equal(tag_a, tag_b));
  }
}

TEST_CASE("blocks seal and open in place") {
  for (Cipher cipher : usable_ciphers()) {
    CAPTURE(cipher_name(cipher));
    Sealed s = seal_sample(cipher);
    Block buf = s.plain;
    Tag tag;
    seal_block(cipher, s.key, s.ad, buf, buf, tag);
    CHECK(buf == s.cipher_text);  // same bytes as the out-of-place seal
    CHECK(tag == s.tag);
    REQUIRE(open_block(cipher, s.key, s.ad, buf, tag, buf).is_ok());
    CHECK(buf == s.plain);

    // A failed in-place open wipes the buffer too.
    Block bad = s.cipher_text;
    bad[100] ^= 1;
    CHECK(open_block(cipher, s.key, s.ad, bad, s.tag, bad).code() == Code::kCorruption);
    CHECK(all_zero(bad));
  }
}

TEST_CASE("misusing the block API aborts with a message") {
  Block plain{};
  Block out{};
  Tag tag{};
  const KeyBytes key = random_key();
  test::check_aborts_with(
      [&] { seal_block(static_cast<Cipher>(77), key, {}, plain, out, tag); },
      "unknown block cipher");
  test::check_aborts_with(
      [&] { (void)open_block(static_cast<Cipher>(0), key, {}, plain, tag, out); },
      "unknown block cipher");
  // Partial overlap would read bytes already overwritten; only exact aliasing is allowed.
  std::vector<uint8_t> big(kBlockSize + 1);
  test::check_aborts_with(
      [&] {
        seal_block(Cipher::kChaCha20Poly1305, key, {},
                   std::span<const uint8_t, kBlockSize>(big.data(), kBlockSize),
                   std::span<uint8_t, kBlockSize>(big.data() + 1, kBlockSize), tag);
      },
      "partially overlap");
}

}  // namespace
TEST_CASE("bulk one-time keys and salts never repeat, within a call or across calls") {
  // Every data block's key comes from random_keys and every summary salt from random_bulk: a
  // seed reused between calls would repeat keys (and, with the all-zero nonce, keystreams).
  std::vector<KeyBytes> a(512), b(512);
  random_keys(a);
  random_keys(b);
  std::set<KeyBytes> seen(a.begin(), a.end());
  seen.insert(b.begin(), b.end());
  CHECK(seen.size() == 1024);
  std::vector<uint8_t> s1(4096), s2(4096);
  random_bulk(s1);
  random_bulk(s2);
  CHECK(s1 != s2);
  CHECK_FALSE(all_zero(s1));
  std::set<uint64_t> words;
  for (size_t i = 0; i < s1.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s1.data() + i, 8);
    words.insert(w);
  }
  CHECK(words.size() == s1.size() / 8);
}

}  // namespace jindisk::crypto
