#include "disk/block_allocator.hpp"

#include <string>

namespace jindisk::disk {
namespace {
// A segment id above this cannot come from a real disk (2^32 segments of 16 blocks = 256 TiB);
// rejecting it keeps a forged-but-authenticated value from making us allocate a huge table.
constexpr uint64_t kMaxSegments = 1ull << 24;
}  // namespace

BlockAllocator::BlockAllocator(uint32_t segment_blocks, uint64_t soft_segment_cap)
    : segment_blocks_(segment_blocks), soft_segment_cap_(soft_segment_cap) {}

BlockAllocator::Segment& BlockAllocator::segment_for(uint64_t segment) {
  if (segment >= segments_.size()) segments_.resize(segment + 1);
  Segment& s = segments_[segment];
  if (s.bits.empty()) s.bits.assign((segment_blocks_ + 63) / 64, 0);
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
  s.present = true;
  ++used_;
  return Status::ok();
}

void BlockAllocator::pick_head() {
  uint64_t best = UINT64_MAX;
  uint32_t best_free = 0;
  uint64_t present = 0;
  uint64_t first_absent = segments_.size();
  for (uint64_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    if (!s.present) {
      if (first_absent == segments_.size()) first_absent = i;
      continue;
    }
    ++present;
    const uint32_t free = segment_blocks_ - s.used;
    if (free > best_free) { best_free = free; best = i; }
  }
  if (best != UINT64_MAX && best_free >= segment_blocks_ / 2) {
    head_ = best;
  } else if (present < soft_segment_cap_ || best == UINT64_MAX) {
    head_ = first_absent;
  } else {
    head_ = best;
  }
  Segment& s = segment_for(head_);
  s.present = true;
  cursor_ = 0;
}

std::vector<uint64_t> BlockAllocator::allocate(size_t n) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> out;
  out.reserve(n);
  while (out.size() < n) {
    if (head_ == UINT64_MAX || cursor_ >= segment_blocks_) pick_head();
    Segment& s = segments_[head_];
    while (cursor_ < segment_blocks_ && out.size() < n) {
      const uint32_t off = cursor_++;
      if (test(s, off)) continue;
      s.bits[off / 64] |= 1ull << (off % 64);
      ++s.used;
      ++used_;
      out.push_back(head_ * segment_blocks_ + off);
    }
  }
  return out;
}

void BlockAllocator::unallocate(std::span<const uint64_t> hbas) {
  std::lock_guard lock(mu_);
  for (uint64_t hba : hbas) {
    Segment& s = segments_[hba / segment_blocks_];
    const uint32_t off = hba % segment_blocks_;
    if (!test(s, off)) continue;
    s.bits[off / 64] &= ~(1ull << (off % 64));
    --s.used;
    --used_;
  }
  // Let the head revisit the returned blocks.
  cursor_ = 0;
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
    if (--s.used == 0 && seg != head_) emptied.push_back(seg);
  }
  deferred_.clear();
  return emptied;
}

void BlockAllocator::forget_segment(uint64_t segment) {
  std::lock_guard lock(mu_);
  if (segment >= segments_.size() || segments_[segment].used != 0) return;
  segments_[segment].present = false;
  if (segment == head_) head_ = UINT64_MAX;
}

bool BlockAllocator::segment_present(uint64_t segment) const {
  std::lock_guard lock(mu_);
  return segment < segments_.size() && segments_[segment].present;
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
  uint64_t n = 0;
  for (const Segment& s : segments_) n += s.present ? 1 : 0;
  return n;
}

}  // namespace jindisk::disk
