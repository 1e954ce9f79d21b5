#include "crypto/secret_key.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "crypto/sodium.hpp"

namespace jindisk::crypto {
namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jindisk: fatal: %s\n", what);
  std::abort();
}

}  // namespace

SecretKey::SecretKey() {
  init();  // sodium_malloc needs the page size that sodium_init computes
  data_ = static_cast<uint8_t*>(sodium_malloc(kKeySize));
  // A key in ordinary memory could be swapped out or read past; refuse rather than degrade.
  if (data_ == nullptr) die("sodium_malloc could not allocate secure memory for a key");
  sodium_memzero(data_, kKeySize);
}

SecretKey::~SecretKey() { sodium_free(data_); }  // wipes; accepts null (moved-from)

SecretKey::SecretKey(SecretKey&& other) noexcept : data_(std::exchange(other.data_, nullptr)) {}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    // Not a swap: the source must end up empty, never holding our old key.
    sodium_free(data_);
    data_ = std::exchange(other.data_, nullptr);
  }
  return *this;
}

SecretKey SecretKey::random() {
  SecretKey key;
  random_bytes(key.mutable_bytes());
  return key;
}

SecretKey SecretKey::from_bytes(std::span<const uint8_t, kKeySize> bytes) {
  SecretKey key;
  auto out = key.mutable_bytes();
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return key;
}

SecretKey SecretKey::clone() const { return from_bytes(bytes()); }

std::span<const uint8_t, kKeySize> SecretKey::bytes() const {
  if (data_ == nullptr) die("SecretKey::bytes() on a moved-from key");
  return std::span<const uint8_t, kKeySize>(data_, kKeySize);
}

std::span<uint8_t, kKeySize> SecretKey::mutable_bytes() {
  if (data_ == nullptr) die("SecretKey::mutable_bytes() on a moved-from key");
  return std::span<uint8_t, kKeySize>(data_, kKeySize);
}

bool SecretKey::equals(const SecretKey& other) const {
  return sodium_memcmp(bytes().data(), other.bytes().data(), kKeySize) == 0;
}

}  // namespace jindisk::crypto
