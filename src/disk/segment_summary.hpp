// The summary at the start of every data segment file: one 16-byte entry per slot naming the
// LBA of the block last written to that slot. The cleaner needs it to find, for a victim
// segment, which logical blocks live there (the index maps LBA -> HBA, not back).
//
// An entry is salt (8 random bytes) || LBA XOR PRF(k, HBA || salt), so it reveals nothing
// about the LBA and two writes of one LBA look unrelated. Entries carry no integrity of their
// own: a host that changes one can only make the cleaner skip a segment, because the cleaner
// moves a block only when the index confirms that the LBA maps to exactly this HBA.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/secret_key.hpp"

namespace jindisk::disk {

class SegmentSummary {
 public:
  static constexpr size_t kEntrySize = 16;
  static constexpr size_t kSaltSize = 8;

  explicit SegmentSummary(crypto::SecretKey key) : key_(std::move(key)) {}

  // Bytes before slot 0's data: the entries, rounded up to whole 4 KiB pages.
  static uint64_t area_bytes(uint32_t segment_blocks);

  // `salt`: fresh random bytes (a drain draws all of its salts at once, crypto::random_bulk).
  void encode(uint64_t hba, uint64_t lba, std::span<const uint8_t, kSaltSize> salt,
              std::span<uint8_t, kEntrySize> out) const;
  // The LBA the entry claims; unchecked.
  uint64_t decode(uint64_t hba, std::span<const uint8_t, kEntrySize> entry) const;

 private:
  uint64_t mask(uint64_t hba, const uint8_t* salt) const;
  crypto::SecretKey key_;
};

}  // namespace jindisk::disk
