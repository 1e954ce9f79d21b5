// A uniformly random order for a drain's or a cleaning pass's blocks, from the crypto RNG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "crypto/aead.hpp"

namespace jindisk::crypto {

// Fisher-Yates over one random_bulk stream (a 256-bit getrandom seed). Placement order is what
// hides logical order from the host, so it must not come from a generator with a 32-bit seed;
// and std::random_device cost ~30 us a construction here (CPUID traps in a VM), once per drain.
// Reducing a 64-bit draw mod i+1 biases no outcome by more than (i+1)/2^64.
template <typename T, size_t Extent>
void random_shuffle(std::span<T, Extent> items) {
  if (items.size() < 2) return;
  std::vector<uint64_t> draws(items.size());
  random_bulk({reinterpret_cast<uint8_t*>(draws.data()), draws.size() * sizeof(uint64_t)});
  for (size_t i = items.size() - 1; i > 0; --i) {
    std::swap(items[i], items[draws[i] % (i + 1)]);
  }
}

}  // namespace jindisk::crypto
