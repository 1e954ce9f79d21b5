// libsodium initialisation, random bytes and wiping. Random-number failure never degrades silently:
// libsodium's randombytes aborts the process rather than return weak bytes, and init() aborts if
// the library cannot start.
#pragma once

#include <cstdint>
#include <span>

namespace jindisk::crypto {

// Idempotent and thread-safe; every crypto entry point calls it.
void init();

// Fills out with cryptographically secure random bytes (aborts on RNG failure).
void random_bytes(std::span<uint8_t> out);

// Zeroes memory in a way the compiler may not remove (plaintext that must not linger).
void wipe(std::span<uint8_t> bytes);

}  // namespace jindisk::crypto
