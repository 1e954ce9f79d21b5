// A keyed 64-bit pseudorandom function (SipHash-2-4 via crypto_shorthash). Used where a value
// must be hidden from the host but needs no integrity of its own, because the reader checks it
// against authenticated state (the segment summary's LBA hints, checked against the index).
#pragma once

#include <cstdint>
#include <span>

#include "crypto/secret_key.hpp"

namespace jindisk::crypto {

// PRF_key(message): the first 16 bytes of `key` are the SipHash key.
uint64_t prf64(const SecretKey& key, std::span<const uint8_t> message);

}  // namespace jindisk::crypto
