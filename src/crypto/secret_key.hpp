// A 256-bit secret key in memory from sodium_malloc: guarded pages, locked against swap where
// the system allows, wiped by sodium_free on destruction. Move-only; copying is explicit
// (clone()) so that a key never multiplies by accident.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace jindisk::crypto {

constexpr size_t kKeySize = 32;

class SecretKey {
 public:
  SecretKey();  // allocates a zeroed key buffer; aborts if secure memory cannot be had
  ~SecretKey();
  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  static SecretKey random();
  static SecretKey from_bytes(std::span<const uint8_t, kKeySize> bytes);

  SecretKey clone() const;
  // Both abort with a message on a moved-from (empty) key: using one is a programming error.
  std::span<const uint8_t, kKeySize> bytes() const;
  std::span<uint8_t, kKeySize> mutable_bytes();
  // True only after the key was moved from; such a key may only be destroyed or assigned to.
  bool empty() const { return data_ == nullptr; }

  // Constant-time comparison.
  bool equals(const SecretKey& other) const;

 private:
  uint8_t* data_ = nullptr;
};

}  // namespace jindisk::crypto
