#include "crypto/aead.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "crypto/sodium.hpp"

namespace jindisk::crypto {
namespace {

static_assert(crypto_aead_aes256gcm_KEYBYTES == 32 &&
              crypto_aead_chacha20poly1305_ietf_KEYBYTES == 32 &&
              crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);
static_assert(crypto_aead_aes256gcm_ABYTES == kTagSize &&
              crypto_aead_chacha20poly1305_ietf_ABYTES == kTagSize &&
              crypto_aead_xchacha20poly1305_ietf_ABYTES == kTagSize);
static_assert(crypto_aead_aes256gcm_NPUBBYTES == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kObjectNonceSize);
static_assert(crypto_generichash_BYTES_MIN <= kTagSize && crypto_generichash_KEYBYTES_MIN <= 32);

// Safe only because every block key seals exactly one block (see aead.hpp).
constexpr uint8_t kBlockNonce[crypto_aead_aes256gcm_NPUBBYTES] = {};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jindisk: fatal: %s\n", what);
  std::abort();
}

// The caller checked cipher_available() when it opened the disk (and refused it with
// kUnsupported otherwise), so reaching here with an unusable cipher is a bug, not a user error.
void require_usable(Cipher cipher) {
  if (!cipher_available(cipher)) {
    die(cipher == Cipher::kAes256Gcm
            ? "AES-256-GCM requested but this CPU lacks AES-NI/PCLMUL (check cipher_available)"
            : "unknown block cipher value");
  }
}

// libsodium allows out == in exactly, but a partial overlap would read bytes already overwritten.
// (Compared as integers: `<` between unrelated pointers is unspecified in C++.)
void require_same_or_disjoint(const uint8_t* in, const uint8_t* out, size_t n) {
  const auto a = reinterpret_cast<uintptr_t>(in);
  const auto b = reinterpret_cast<uintptr_t>(out);
  if (a != b && a < b + n && b < a + n) die("AEAD input and output partially overlap");
}

// libsodium declares the text pointers nonnull even for zero lengths, and an empty span may hold
// null; point empty texts at a caller-provided byte (never read or written at length 0).
template <typename T>
T* nonnull(std::span<T> text, T* empty) {
  return text.empty() ? empty : text.data();
}

}  // namespace

Cipher preferred_cipher() {
  init();  // the CPU feature probe runs inside sodium_init
  return crypto_aead_aes256gcm_is_available() ? Cipher::kAes256Gcm : Cipher::kChaCha20Poly1305;
}

bool cipher_available(Cipher cipher) {
  init();
  switch (cipher) {
    case Cipher::kAes256Gcm: return crypto_aead_aes256gcm_is_available() != 0;
    case Cipher::kChaCha20Poly1305: return true;
  }
  return false;  // a value from a header this build does not know
}

const char* cipher_name(Cipher cipher) {
  switch (cipher) {
    case Cipher::kAes256Gcm: return "aes-256-gcm";
    case Cipher::kChaCha20Poly1305: return "chacha20-poly1305";
  }
  return "unknown";
}

void seal_block(Cipher cipher, std::span<const uint8_t, 32> one_time_key,
                std::span<const uint8_t> ad, std::span<const uint8_t, kBlockSize> plain,
                std::span<uint8_t, kBlockSize> out, Tag& tag) {
  init();
  require_usable(cipher);
  require_same_or_disjoint(plain.data(), out.data(), kBlockSize);
  if (cipher == Cipher::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt_detached(out.data(), tag.data(), nullptr, plain.data(),
                                           plain.size(), ad.data(), ad.size(), nullptr,
                                           kBlockNonce, one_time_key.data());
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(out.data(), tag.data(), nullptr,
                                                       plain.data(), plain.size(), ad.data(),
                                                       ad.size(), nullptr, kBlockNonce,
                                                       one_time_key.data());
  }
}

Status open_block(Cipher cipher, std::span<const uint8_t, 32> one_time_key,
                  std::span<const uint8_t> ad, std::span<const uint8_t, kBlockSize> cipher_text,
                  const Tag& tag, std::span<uint8_t, kBlockSize> out) {
  init();
  require_usable(cipher);
  require_same_or_disjoint(cipher_text.data(), out.data(), kBlockSize);
  int rc = 0;
  if (cipher == Cipher::kAes256Gcm) {
    rc = crypto_aead_aes256gcm_decrypt_detached(out.data(), nullptr, cipher_text.data(),
                                                cipher_text.size(), tag.data(), ad.data(),
                                                ad.size(), kBlockNonce, one_time_key.data());
  } else {
    rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(out.data(), nullptr, cipher_text.data(),
                                                            cipher_text.size(), tag.data(),
                                                            ad.data(), ad.size(), kBlockNonce,
                                                            one_time_key.data());
  }
  if (rc != 0) {
    // libsodium 1.0.18 clears `out` here itself, but does not document it; this promise is ours.
    sodium_memzero(out.data(), out.size());
    return Status::corruption("block authentication failed");
  }
  return Status::ok();
}

void seal_object(std::span<const uint8_t, 32> key, std::span<const uint8_t> ad,
                 std::span<const uint8_t> plain, std::span<uint8_t> out, ObjectNonce& nonce,
                 Tag& tag) {
  init();
  if (out.size() != plain.size()) die("seal_object: out.size() != plain.size()");
  require_same_or_disjoint(plain.data(), out.data(), plain.size());
  // 192-bit random nonces: collisions are negligible however many objects one key seals.
  random_bytes(nonce);
  uint8_t empty = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(nonnull(out, &empty), tag.data(), nullptr,
                                                      plain.data(), plain.size(), ad.data(),
                                                      ad.size(), nullptr, nonce.data(),
                                                      key.data());
}

Status open_object(std::span<const uint8_t, 32> key, std::span<const uint8_t> ad,
                   std::span<const uint8_t> cipher_text, const ObjectNonce& nonce, const Tag& tag,
                   std::span<uint8_t> out) {
  init();
  if (out.size() != cipher_text.size()) die("open_object: out.size() != cipher_text.size()");
  require_same_or_disjoint(cipher_text.data(), out.data(), cipher_text.size());
  const uint8_t empty = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          out.data(), nullptr, nonnull(cipher_text, &empty), cipher_text.size(), tag.data(),
          ad.data(), ad.size(), nonce.data(), key.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return Status::corruption("object authentication failed");
  }
  return Status::ok();
}

KeyBytes random_key() {
  KeyBytes key;
  random_bytes(key);
  return key;
}

void random_bulk(std::span<uint8_t> out) {
  std::array<uint8_t, randombytes_SEEDBYTES> seed;
  random_bytes(seed);
  randombytes_buf_deterministic(out.data(), out.size(), seed.data());
  sodium_memzero(seed.data(), seed.size());
}

void random_keys(std::span<KeyBytes> out) {
  static_assert(sizeof(KeyBytes) == 32);
  random_bulk({reinterpret_cast<uint8_t*>(out.data()), out.size_bytes()});
}

Tag mac(std::span<const uint8_t, 32> key, std::span<const uint8_t> message) {
  init();
  Tag tag;
  crypto_generichash(tag.data(), tag.size(), message.data(), message.size(), key.data(),
                     key.size());
  return tag;
}

bool tags_equal(const Tag& a, const Tag& b) {
  init();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace jindisk::crypto
