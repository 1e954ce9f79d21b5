#include "disk/sequential_reads.hpp"

#include <algorithm>

namespace jindisk::disk {

bool SequentialReads::observe(uint64_t lba, uint64_t blocks) {
  if (blocks < kMinBlocks) return false;
  std::lock_guard lock(mu_);
  for (Stream& s : streams_) {
    const bool near = lba + kNearBlocks >= s.end && lba <= s.end + kNearBlocks;
    if (!s.used || !near) continue;
    s.end = std::max(s.end, lba + blocks);  // requests in flight may finish out of order
    ++s.continued;
    return s.continued >= 2;
  }
  streams_[next_] = Stream{lba + blocks, 0, true};
  next_ = (next_ + 1) % kStreams;
  return false;
}

}  // namespace jindisk::disk
