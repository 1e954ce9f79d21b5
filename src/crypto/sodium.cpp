#include "crypto/sodium.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace jindisk::crypto {

void init() {
  // call_once rather than relying on sodium_init's own idempotence: its fast path is a plain
  // load, and we want the abort below to happen in exactly one thread with one message.
  static std::once_flag once;
  std::call_once(once, [] {
    // 0 = initialised now, 1 = someone in the process already did it, -1 = cannot start.
    if (sodium_init() < 0) {
      std::fputs("jindisk: fatal: libsodium failed to initialise (sodium_init)\n", stderr);
      std::abort();
    }
  });
}

void random_bytes(std::span<uint8_t> out) {
  init();
  // randombytes_buf has no error return: if the kernel RNG fails, libsodium aborts the process
  // itself, so weak or missing randomness can never reach a key or nonce.
  randombytes_buf(out.data(), out.size());
}

void wipe(std::span<uint8_t> bytes) { sodium_memzero(bytes.data(), bytes.size()); }

}  // namespace jindisk::crypto
