// A/B root slots: the single durable pointer switch of the commit protocol.
//
// One host file with two 4096-byte slots. Each slot holds an AEAD-sealed root record with an
// epoch. commit(E) writes to the slot that does not hold the newest valid record, then
// fdatasyncs, so a torn or failed slot write always leaves the other (older) slot usable.
// load() opens both slots and returns the valid one with the highest epoch.
//
// Slot layout: magic "JDROOT01" (8) | slot index u32 | epoch u64 | payload length u32 |
// nonce (24) | ciphertext (payload length) | tag (16) | zero padding. AD = the first 24 bytes
// (magic, slot index, epoch, length) | disk uuid (16). Sealed with XChaCha20-Poly1305 under the
// root subkey. The slot tag is the disk's measurement (it changes with every commit).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/secret_key.hpp"
#include "host/store.hpp"
#include "jindisk/status.hpp"

namespace jindisk::log {

using Uuid = std::array<uint8_t, 16>;

struct RootRecord {
  uint64_t epoch = 0;
  std::vector<uint8_t> payload;
  crypto::Tag tag{};  // the slot's AEAD tag
  uint32_t slot = 0;
};

class RootSlots {
 public:
  static constexpr size_t kSlotSize = 4096;
  static constexpr size_t kMaxPayload = kSlotSize - 24 - 24 - 16;

  // The key is cloned; the file is owned.
  RootSlots(std::unique_ptr<host::File> file, const crypto::SecretKey& root_key, const Uuid& uuid);
  ~RootSlots();
  RootSlots(RootSlots&&) noexcept;
  RootSlots& operator=(RootSlots&&) noexcept;

  // Newest valid record. kCorruption if neither slot is valid (message says why for each).
  // Remembers which slot is newest so the next commit goes to the other.
  Result<RootRecord> load();

  // Writes the record for `epoch` (must exceed every epoch seen by load/commit: else
  // kInvalidArgument) to the other slot and fdatasyncs. Returns the written record's tag.
  Result<crypto::Tag> commit(uint64_t epoch, std::span<const uint8_t> payload);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace jindisk::log
