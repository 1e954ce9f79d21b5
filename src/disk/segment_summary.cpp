#include "disk/segment_summary.hpp"

#include <cstring>

#include "crypto/aead.hpp"
#include "crypto/prf.hpp"
#include "util/le.hpp"

namespace jindisk::disk {

uint64_t SegmentSummary::area_bytes(uint32_t segment_blocks) {
  const uint64_t raw = uint64_t(segment_blocks) * kEntrySize;
  return (raw + crypto::kBlockSize - 1) / crypto::kBlockSize * crypto::kBlockSize;
}

uint64_t SegmentSummary::mask(uint64_t hba, const uint8_t* salt) const {
  uint8_t message[24];
  std::memcpy(message, "JDSUM001", 8);
  util::put_u64(message + 8, hba);
  std::memcpy(message + 16, salt, 8);
  return crypto::prf64(key_, message);
}

void SegmentSummary::encode(uint64_t hba, uint64_t lba, std::span<const uint8_t, kSaltSize> salt,
                            std::span<uint8_t, kEntrySize> out) const {
  std::memcpy(out.data(), salt.data(), salt.size());
  util::put_u64(out.data() + 8, lba ^ mask(hba, out.data()));
}

uint64_t SegmentSummary::decode(uint64_t hba, std::span<const uint8_t, kEntrySize> entry) const {
  return util::get_u64(entry.data() + 8) ^ mask(hba, entry.data());
}

}  // namespace jindisk::disk
