// Host block allocation over data segments. HBA = segment id * segment_blocks + slot.
//
// A block is "used" from allocation until the commit after the one that stopped referencing
// it: frees are deferred (defer_free) and released only after the next root commit is
// durable, so the last committed state's blocks are never overwritten. The state is not
// persisted: at open it is rebuilt from the index (every live mapping marks its HBA).
//
// Two allocation heads fill one segment each, in increasing slot order: one for user data,
// one for blocks the cleaner moves (hot and cold data apart, and the cleaner never refills
// the segments it is emptying). The user head moves to, in order of preference:
//   1. the segment with the most free slots, if at least half of it is free;
//   2. a new segment, while the segments present hold less than kGrowth x the used blocks
//      (plus kSpareSegments), so host usage tracks live data rather than the logical size;
//   3. the segment with the most free slots (filling holes keeps the bound without cleaning);
//   4. a new segment when no present one has a free slot.
// The cleaner's head always starts a new segment, unless the host has just run out of space.
// After ENOSPC (note_no_space) no new segment is started for a few seconds: holes in existing
// segment files can be rewritten without needing more host space. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "jindisk/status.hpp"

namespace jindisk::disk {

enum class AllocFor : uint8_t { kUser = 0, kCleaner = 1 };

class BlockAllocator {
 public:
  // Host usage target: segments present <= kGrowth x used blocks + kSpareSegments segments.
  static constexpr double kGrowth = 1.2;
  static constexpr uint32_t kSpareSegments = 2;

  explicit BlockAllocator(uint32_t segment_blocks);

  // Recovery: hba is referenced by a live mapping. kCorruption if two mappings share it or it
  // lies beyond any plausible segment.
  Status mark_used(uint64_t hba);

  // n free HBAs, marked used, in allocation order (consecutive where possible).
  std::vector<uint64_t> allocate(size_t n, AllocFor purpose = AllocFor::kUser);
  // Gives back allocations that never became visible (a failed write). Returns the segments
  // this left with no used block.
  std::vector<uint64_t> unallocate(std::span<const uint64_t> hbas);
  // hba stops being referenced by the state being built; free after the next commit.
  void defer_free(uint64_t hba);
  // After a durable commit: frees the deferred HBAs. Returns segments left with no used block
  // (their files may be removed).
  std::vector<uint64_t> release_deferred();
  // A write failed for lack of host space: start no new segment for a while. Returns the
  // segments that hold no used block and are not reserved (files that may be removed to give
  // space back).
  std::vector<uint64_t> note_no_space();
  // Host space was just made available (the reserve was released): new segments are fine.
  void allow_growth();

  // The segment file was removed; a later allocation there starts a fresh file.
  void forget_segment(uint64_t segment);

  // Cleaning. A candidate is a present segment that is no head and not reserved.
  struct SegmentUsage {
    uint64_t segment;
    uint32_t used;
    uint64_t age;  // allocations (in blocks) since the segment was last written
  };
  std::vector<SegmentUsage> cleaning_candidates() const;
  // Slots in use and not waiting to be freed: the blocks the current state references.
  std::vector<uint32_t> live_slots(uint64_t segment) const;
  // A reserved segment is not allocated into (the cleaner is emptying it).
  void set_reserved(uint64_t segment, bool reserved);

  bool segment_present(uint64_t segment) const;
  // Present, holding no used block, and neither a head nor reserved: its file may go.
  bool segment_unused(uint64_t segment) const;
  std::vector<uint64_t> present_segments() const;
  uint64_t used_blocks() const;
  uint32_t segment_blocks() const { return segment_blocks_; }
  // Segments that currently have at least one used block or were allocated into.
  uint64_t segment_count() const;
  // Of those, the ones with no used block now (emptied, file not yet removed).
  uint64_t empty_segment_count() const;

 private:
  struct Segment {
    std::vector<uint64_t> bits;
    uint32_t used = 0;
    bool present = false;
    bool reserved = false;
    uint64_t last_write = 0;
  };
  struct Head {
    uint64_t segment = UINT64_MAX;
    uint32_t cursor = 0;
  };
  Segment& segment_for(uint64_t segment);
  void pick_head(AllocFor purpose);
  bool is_head(uint64_t segment) const;
  bool growth_allowed() const;
  bool test(const Segment& s, uint32_t off) const { return (s.bits[off / 64] >> (off % 64)) & 1; }

  const uint32_t segment_blocks_;
  mutable std::mutex mu_;
  std::vector<Segment> segments_;
  std::vector<uint64_t> deferred_;
  Head heads_[2];
  uint64_t used_ = 0;
  uint64_t present_ = 0;
  uint64_t clock_ = 1;  // blocks allocated so far this session: the age of a segment
  std::chrono::steady_clock::time_point no_growth_until_{};
};

}  // namespace jindisk::disk
