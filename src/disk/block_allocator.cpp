#include "disk/block_allocator.hpp"

#include <algorithm>
#include <string>

namespace jindisk::disk {
namespace {
// A segment id above this cannot come from a real disk (2^32 segments of 16 blocks = 256 TiB);
// rejecting it keeps a forged-but-authenticated value from making us allocate a huge table.
constexpr uint64_t kMaxSegments = 1ull << 24;
// How long to fill holes only, after the host ran out of space.
constexpr auto kNoGrowthAfterNoSpace = std::chrono::seconds(5);
}  // namespace

BlockAllocator::BlockAllocator(uint32_t segment_blocks) : segment_blocks_(segment_blocks) {}

BlockAllocator::Segment& BlockAllocator::segment_for(uint64_t segment) {
  if (segment >= segments_.size()) segments_.resize(segment + 1);
  Segment& s = segments_[segment];
  if (s.bits.empty()) s.bits.assign((segment_blocks_ + 63) / 64, 0);
  if (!s.present) {
    s.present = true;
    ++present_;
  }
  return s;
}

Status BlockAllocator::mark_used(uint64_t hba) {
  std::lock_guard lock(mu_);
  const uint64_t seg = hba / segment_blocks_;
  if (seg >= kMaxSegments) {
    return Status::corruption("index refers to host block " + std::to_string(hba) +
                              ", beyond any segment");
  }
  Segment& s = segment_for(seg);
  const uint32_t off = hba % segment_blocks_;
  if (test(s, off)) {
    return Status::corruption("two index entries refer to host block " + std::to_string(hba));
  }
  s.bits[off / 64] |= 1ull << (off % 64);
  ++s.used;
  ++used_;
  return Status::ok();
}

bool BlockAllocator::is_head(uint64_t segment) const {
  return heads_[0].segment == segment || heads_[1].segment == segment;
}

bool BlockAllocator::growth_allowed() const {
  if (std::chrono::steady_clock::now() < no_growth_until_) return false;
  const double target = kGrowth * double(used_) / segment_blocks_ + kSpareSegments;
  return double(present_) < target;
}

void BlockAllocator::pick_head(AllocFor purpose) {
  Head& head = heads_[static_cast<int>(purpose)];
  uint64_t best = UINT64_MAX;
  uint32_t best_free = 0;
  uint64_t first_absent = segments_.size();
  for (uint64_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    if (!s.present) {
      if (first_absent == segments_.size()) first_absent = i;
      continue;
    }
    if (s.reserved || is_head(i)) continue;
    const uint32_t free = segment_blocks_ - s.used;
    if (free > best_free) {
      best_free = free;
      best = i;
    }
  }
  uint64_t chosen;
  if (purpose == AllocFor::kCleaner) {
    const bool no_space = std::chrono::steady_clock::now() < no_growth_until_;
    chosen = (no_space && best != UINT64_MAX) ? best : first_absent;
  } else if (best != UINT64_MAX && best_free >= segment_blocks_ / 2) {
    chosen = best;
  } else if (growth_allowed() || best == UINT64_MAX) {
    chosen = first_absent;
  } else {
    chosen = best;
  }
  segment_for(chosen);
  head.segment = chosen;
  head.cursor = 0;
}

std::vector<uint64_t> BlockAllocator::allocate(size_t n, AllocFor purpose) {
  std::lock_guard lock(mu_);
  Head& head = heads_[static_cast<int>(purpose)];
  std::vector<uint64_t> out;
  out.reserve(n);
  while (out.size() < n) {
    if (head.segment == UINT64_MAX || head.cursor >= segment_blocks_) pick_head(purpose);
    Segment& s = segments_[head.segment];
    s.last_write = clock_;
    while (head.cursor < segment_blocks_ && out.size() < n) {
      const uint32_t off = head.cursor++;
      if (test(s, off)) continue;
      s.bits[off / 64] |= 1ull << (off % 64);
      ++s.used;
      ++used_;
      out.push_back(head.segment * segment_blocks_ + off);
    }
  }
  clock_ += n;
  return out;
}

std::vector<uint64_t> BlockAllocator::unallocate(std::span<const uint64_t> hbas) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> emptied;
  for (uint64_t hba : hbas) {
    Segment& s = segments_[hba / segment_blocks_];
    const uint32_t off = hba % segment_blocks_;
    if (!test(s, off)) continue;
    s.bits[off / 64] &= ~(1ull << (off % 64));
    --used_;
    if (--s.used == 0) emptied.push_back(hba / segment_blocks_);
  }
  // Let the heads revisit the returned blocks.
  for (Head& h : heads_) h.cursor = 0;
  return emptied;
}

void BlockAllocator::defer_free(uint64_t hba) {
  std::lock_guard lock(mu_);
  deferred_.push_back(hba);
}

std::vector<uint64_t> BlockAllocator::release_deferred() {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> emptied;
  for (uint64_t hba : deferred_) {
    const uint64_t seg = hba / segment_blocks_;
    if (seg >= segments_.size()) continue;
    Segment& s = segments_[seg];
    const uint32_t off = hba % segment_blocks_;
    if (!test(s, off)) continue;
    s.bits[off / 64] &= ~(1ull << (off % 64));
    --used_;
    if (--s.used == 0) {
      // An empty head is dropped too: keeping its file would only hold host space.
      emptied.push_back(seg);
      for (Head& h : heads_) {
        if (h.segment == seg) h = Head{};
      }
    }
  }
  deferred_.clear();
  return emptied;
}

std::vector<uint64_t> BlockAllocator::note_no_space() {
  std::lock_guard lock(mu_);
  no_growth_until_ = std::chrono::steady_clock::now() + kNoGrowthAfterNoSpace;
  std::vector<uint64_t> empty;
  for (uint64_t i = 0; i < segments_.size(); ++i) {
    // A reserved empty segment is having its file removed by the cleaner already.
    if (segments_[i].present && segments_[i].used == 0 && !segments_[i].reserved) empty.push_back(i);
  }
  // A head in a segment that could not be written would be retried at once; move on.
  for (Head& h : heads_) {
    if (h.segment != UINT64_MAX && segments_[h.segment].used == 0) h = Head{};
  }
  return empty;
}

void BlockAllocator::allow_growth() {
  std::lock_guard lock(mu_);
  no_growth_until_ = {};
}

void BlockAllocator::forget_segment(uint64_t segment) {
  std::lock_guard lock(mu_);
  if (segment >= segments_.size() || segments_[segment].used != 0) return;
  Segment& s = segments_[segment];
  if (s.present) {
    s.present = false;
    --present_;
  }
  s.reserved = false;
  for (Head& h : heads_) {
    if (h.segment == segment) h = Head{};
  }
}

std::vector<BlockAllocator::SegmentUsage> BlockAllocator::cleaning_candidates() const {
  std::lock_guard lock(mu_);
  std::vector<SegmentUsage> out;
  for (uint64_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    if (!s.present || s.reserved || is_head(i)) continue;
    out.push_back({i, s.used, clock_ - std::min(clock_, s.last_write)});
  }
  return out;
}

std::vector<uint32_t> BlockAllocator::live_slots(uint64_t segment) const {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> out;
  if (segment >= segments_.size()) return out;
  const Segment& s = segments_[segment];
  std::vector<uint64_t> pending;
  for (uint64_t hba : deferred_) {
    if (hba / segment_blocks_ == segment) pending.push_back(hba % segment_blocks_);
  }
  std::sort(pending.begin(), pending.end());
  for (uint32_t off = 0; off < segment_blocks_; ++off) {
    if (test(s, off) && !std::binary_search(pending.begin(), pending.end(), off)) {
      out.push_back(off);
    }
  }
  return out;
}

void BlockAllocator::set_reserved(uint64_t segment, bool reserved) {
  std::lock_guard lock(mu_);
  if (segment < segments_.size() && segments_[segment].present) {
    segments_[segment].reserved = reserved;
  }
}

bool BlockAllocator::segment_present(uint64_t segment) const {
  std::lock_guard lock(mu_);
  return segment < segments_.size() && segments_[segment].present;
}

bool BlockAllocator::segment_unused(uint64_t segment) const {
  std::lock_guard lock(mu_);
  if (segment >= segments_.size()) return false;
  const Segment& s = segments_[segment];
  return s.present && s.used == 0 && !s.reserved && !is_head(segment);
}

std::vector<uint64_t> BlockAllocator::present_segments() const {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < segments_.size(); ++i) if (segments_[i].present) out.push_back(i);
  return out;
}

uint64_t BlockAllocator::used_blocks() const {
  std::lock_guard lock(mu_);
  return used_;
}

uint64_t BlockAllocator::segment_count() const {
  std::lock_guard lock(mu_);
  return present_;
}

uint64_t BlockAllocator::empty_segment_count() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const Segment& s : segments_) n += s.present && s.used == 0;
  return n;
}

}  // namespace jindisk::disk
