// Host block allocation over data segments. HBA = segment id * segment_blocks + offset.
//
// A block is "used" from allocation until the commit after the one that stopped referencing
// it: frees are deferred (defer_free) and released only after the next root commit is
// durable, so the last committed state's blocks are never overwritten. The state is not
// persisted: at open it is rebuilt from the index (every live mapping marks its HBA).
//
// Allocation fills one head segment at a time, in increasing offset order. A new head is the
// segment with the most free blocks if at least half of it is free; else a new segment while
// the host holds fewer than `soft_segment_cap` segments; else the segment with the most free
// blocks. Thread-safe (one internal mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "jindisk/status.hpp"

namespace jindisk::disk {

class BlockAllocator {
 public:
  BlockAllocator(uint32_t segment_blocks, uint64_t soft_segment_cap);

  // Recovery: hba is referenced by a live mapping. kCorruption if two mappings share it or it
  // lies beyond any plausible segment.
  Status mark_used(uint64_t hba);

  // n free HBAs, marked used, in allocation order (consecutive where possible).
  std::vector<uint64_t> allocate(size_t n);
  // Gives back allocations that never became visible (a failed write).
  void unallocate(std::span<const uint64_t> hbas);
  // hba stops being referenced by the state being built; free after the next commit.
  void defer_free(uint64_t hba);
  // After a durable commit: frees the deferred HBAs. Returns segments left with no used block
  // (their files may be removed).
  std::vector<uint64_t> release_deferred();

  // The segment file was removed; a later allocation there starts a fresh file.
  void forget_segment(uint64_t segment);

  bool segment_present(uint64_t segment) const;
  std::vector<uint64_t> present_segments() const;
  uint64_t used_blocks() const;
  uint32_t segment_blocks() const { return segment_blocks_; }
  // Segments that currently have at least one used block or were allocated into.
  uint64_t segment_count() const;

 private:
  struct Segment {
    std::vector<uint64_t> bits;
    uint32_t used = 0;
    bool present = false;
  };
  Segment& segment_for(uint64_t segment);
  void pick_head();
  bool test(const Segment& s, uint32_t off) const { return (s.bits[off / 64] >> (off % 64)) & 1; }

  const uint32_t segment_blocks_;
  const uint64_t soft_segment_cap_;
  mutable std::mutex mu_;
  std::vector<Segment> segments_;
  std::vector<uint64_t> deferred_;
  uint64_t head_ = UINT64_MAX;
  uint32_t cursor_ = 0;
  uint64_t used_ = 0;
};

}  // namespace jindisk::disk
