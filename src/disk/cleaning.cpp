// The segment cleaner. Trims and overwrites leave garbage scattered over segment files; the
// cleaner empties sparse segments by moving their live blocks to the cleaner's own head
// segment, so that the commit after the move can remove the emptied files.
//
// Why it keeps every guarantee (docs/design.md §Cleaning):
// - A moved block is opened (authenticated) and sealed again under a fresh random key at its
//   new HBA: no (key, nonce) reuse, the AD binds the new place, and the new HBA is unrelated
//   to the LBA (the moves are shuffled like a drain's blocks).
// - The old HBA is freed like any overwritten block: only after the commit that stopped
//   referencing it is durable, and only while no read holds it (reclaim_mu_).
// - The cleaner commits only when the index holds no uncommitted user change: its commit
//   publishes the same logical contents as the user's last flush, never a state the user did
//   not flush. While user changes are pending, it waits for the user's flush.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "crypto/shuffle.hpp"
#include "crypto/sodium.hpp"
#include "disk/secure_disk.hpp"

namespace jindisk::disk {
namespace {
// Cleaning starts when the segments present exceed kStartGrowth x the used blocks plus
// kStartSpare segments, and stops at the allocator's own target (BlockAllocator::kGrowth,
// kSpareSegments). The gap keeps the cleaner from fighting the allocator's growth.
constexpr double kStartGrowth = 1.25;
constexpr double kStartSpare = 3;
// A step removes at most kRemovalBatch emptied segment files (about 1 ms each), at once after
// the commit that emptied them. (Leaving them 2 s for drains to reuse let them pile up to three
// times the live data under steady overwrite with frequent flushes: tuning.md, round 7.)
constexpr size_t kRemovalBatch = 8;
}  // namespace

std::vector<uint64_t> SecureDisk::claim_emptied_locked(bool all, size_t& taken) {
  std::vector<uint64_t> claimed;
  taken = 0;
  while (!emptied_.empty() && (all || taken < kRemovalBatch)) {
    const uint64_t seg = emptied_.front();
    emptied_.pop_front();
    ++taken;
    // Allocation happens only under flush_mu_, which the caller holds. Reserved, the segment
    // (and its id) stays out of allocation until release_claimed_locked, even with the lock
    // let go while its file is removed.
    if (alloc_->segment_unused(seg)) {
      alloc_->set_reserved(seg, true);
      claimed.push_back(seg);
    }
  }
  return claimed;
}

std::vector<bool> SecureDisk::remove_claimed(const std::vector<uint64_t>& claimed) {
  std::vector<bool> removed(claimed.size());
  for (size_t i = 0; i < claimed.size(); ++i) removed[i] = segments_->remove(claimed[i]).is_ok();
  return removed;
}

void SecureDisk::release_claimed_locked(const std::vector<uint64_t>& claimed,
                                        const std::vector<bool>& removed) {
  for (size_t i = 0; i < claimed.size(); ++i) {
    if (removed[i]) alloc_->forget_segment(claimed[i]);  // also ends the reservation
    else alloc_->set_reserved(claimed[i], false);
  }
}

bool SecureDisk::remove_emptied_segments() {
  std::vector<uint64_t> claimed;
  size_t taken;
  {
    std::lock_guard lock(flush_mu_);
    if (closed_ || read_only_) return false;
    claimed = claim_emptied_locked(false, taken);
  }
  // Without flush_mu_: about 1 ms a file, and drains and flushes should not wait for that.
  const std::vector<bool> removed = remove_claimed(claimed);
  std::lock_guard lock(flush_mu_);
  release_claimed_locked(claimed, removed);
  return taken > 0;
}

void SecureDisk::remove_all_emptied_locked() {
  size_t taken;
  const std::vector<uint64_t> claimed = claim_emptied_locked(true, taken);
  release_claimed_locked(claimed, remove_claimed(claimed));
}

bool SecureDisk::cleaning_wanted() {
  const double used = double(alloc_->used_blocks()) / header_.segment_blocks;
  // Empty files are removed without cleaning (remove_emptied_segments).
  const double present = double(alloc_->segment_count() - alloc_->empty_segment_count());
  if (present > kStartGrowth * used + kStartSpare) cleaning_active_ = true;
  if (present <= BlockAllocator::kGrowth * used + BlockAllocator::kSpareSegments) {
    cleaning_active_ = false;
  }
  return cleaning_active_;
}

std::optional<uint64_t> SecureDisk::pick_victim() const {
  // Cost-benefit (Rosenblum & Ousterhout, LFS): benefit/cost = (1 - u) * age / (1 + u). Moving
  // a segment with utilisation u costs reading it and writing u of it back, and frees 1 - u;
  // weighing by age prefers cold segments, whose free space would not otherwise be refilled
  // by the allocator's hole filling, over hot ones that are still emptying by themselves.
  const double sb = header_.segment_blocks;
  std::optional<uint64_t> best;
  double best_score = -1;
  for (const auto& c : alloc_->cleaning_candidates()) {
    if (c.used == 0 || c.used >= header_.segment_blocks || unmovable_.count(c.segment)) continue;
    const double u = c.used / sb;
    const double score = (1 - u) * double(c.age + 1) / (1 + u);
    if (score > best_score) {
      best_score = score;
      best = c.segment;
    }
  }
  return best;
}

Result<std::optional<size_t>> SecureDisk::move_live_blocks(uint64_t victim) {
  const uint32_t sb = header_.segment_blocks;
  const std::vector<uint32_t> slots = alloc_->live_slots(victim);
  if (slots.empty()) return std::optional<size_t>(0);
  JD_ASSIGN_OR_RETURN(std::vector<uint8_t> area, segments_->read_summary(victim));

  // Which LBA lives in each slot: the summary's claim, confirmed by the index.
  std::vector<uint64_t> lbas(slots.size());
  std::vector<index::BlockRef> refs(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const uint64_t hba = victim * sb + slots[i];
    const uint64_t lba = summary_->decode(
        hba, std::span<const uint8_t, SegmentSummary::kEntrySize>(
                 area.data() + size_t(slots[i]) * SegmentSummary::kEntrySize,
                 SegmentSummary::kEntrySize));
    std::optional<index::BlockRef> ref;
    if (lba < header_.logical_blocks) {
      JD_ASSIGN_OR_RETURN(ref, index_->get(lba));
    }
    if (!ref || ref->hba != hba) {
      unmovable_.insert(victim);
      warn("cleaner: the summary of " + SegmentFiles::name(victim) +
           " does not match the index (damaged or altered); leaving the segment in place");
      return std::optional<size_t>();
    }
    lbas[i] = lba;
    refs[i] = *ref;
  }

  // Read and authenticate every block (runs of consecutive slots are read with one call).
  std::vector<Block> plain(slots.size());
  std::vector<uint8_t*> outs(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) outs[i] = plain[i].data();
  const auto wipe_plain = [&] {
    crypto::wipe(std::span(reinterpret_cast<uint8_t*>(plain.data()), plain.size() * kBlockSize));
  };
  Status read = read_from_host(lbas, refs, outs);
  if (read.code() == Code::kCorruption) {
    unmovable_.insert(victim);
    warn("cleaner: leaving " + SegmentFiles::name(victim) + " in place: " + read.message());
    wipe_plain();
    return std::optional<size_t>();
  }
  if (!read.is_ok()) {
    wipe_plain();
    return read;
  }

  // Seal again under fresh keys at new places, in an order unrelated to the old one.
  std::vector<size_t> order(slots.size());
  std::iota(order.begin(), order.end(), 0);
  crypto::random_shuffle(std::span(order));
  std::vector<std::pair<uint64_t, Block*>> blocks;
  blocks.reserve(order.size());
  for (size_t k : order) blocks.emplace_back(lbas[k], &plain[k]);
  Status index_status;
  auto publish = [&](SealRound& round, size_t begin, size_t end) {
    for (size_t j = begin; j < end && index_status.is_ok(); ++j) {
      const size_t k = order[j];
      index_status = index_->put(lbas[k], round.refs[j]);
      if (index_status.is_ok()) alloc_->defer_free(refs[k].hba);
    }
    dirty_ = true;
  };
  std::vector<std::unique_ptr<SealRound>> rounds;
  Status placed = seal_and_place(std::move(blocks), AllocFor::kCleaner, publish, nullptr, rounds);
  wipe_plain();
  if (!index_status.is_ok()) {
    // The entry is in the memtable; as in a drain, only a full host may be retried.
    if (index_status.code() != Code::kNoSpace) {
      set_read_only("writing the index failed: " + index_status.to_string());
    }
    return index_status;
  }
  JD_TRY(placed);
  return std::optional<size_t>(slots.size());
}

Result<bool> SecureDisk::clean_step(bool force) {
  if (remove_emptied_segments()) return true;
  std::lock_guard lock(flush_mu_);
  if (closed_ || read_only_) return false;
  // A commit now would also publish the user's unflushed changes: only a user flush may do
  // that (DESIGN: the engine never creates a state the user did not flush). Wait for it.
  if (dirty_) return false;
  if (index_->has_uncommitted_compaction()) {
    // An idle disk would otherwise keep the files a compaction replaced until the next flush.
    dirty_ = true;
    JD_TRY(commit_locked());
    return true;
  }
  if (!cleaning_wanted() && !force) return false;
  const auto victim = pick_victim();
  if (!victim) return false;
  alloc_->set_reserved(*victim, true);
  auto moved = move_live_blocks(*victim);
  Status s = moved.status();
  if (s.is_ok() && *moved) {
    // Even with nothing left to move, a commit releases the victim's pending frees.
    dirty_ = true;
    s = commit_locked();
  }
  alloc_->set_reserved(*victim, false);
  if (!s.is_ok()) return s;
  if (*moved) {
    ++segments_cleaned_;
    blocks_moved_ += **moved;
  }
  return true;
}

bool SecureDisk::background_clean() {
  auto more = clean_step();
  if (more.is_ok()) return *more;
  ++cleaner_errors_;
  // A full host is expected and reported to writers; anything else is worth a line.
  if (more.status().code() != Code::kNoSpace) warn("cleaner: " + more.status().to_string());
  return false;
}

}  // namespace jindisk::disk
