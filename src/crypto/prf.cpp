#include "crypto/prf.hpp"

#include <sodium.h>

#include "util/le.hpp"

namespace jindisk::crypto {

static_assert(crypto_shorthash_BYTES == 8);
static_assert(crypto_shorthash_KEYBYTES <= kKeySize);

uint64_t prf64(const SecretKey& key, std::span<const uint8_t> message) {
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, message.data(), message.size(), key.bytes().data());
  return util::get_u64(out);
}

}  // namespace jindisk::crypto
