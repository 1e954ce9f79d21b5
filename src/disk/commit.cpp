// flush() and the commit protocol (DESIGN.md §4, docs/design.md).
#include <thread>

#include "disk/root_record.hpp"
#include "disk/secure_disk.hpp"

namespace jindisk::disk {

void SecureDisk::set_read_only(const std::string& reason) {
  std::lock_guard lock(mu_);
  if (!read_only_) {
    read_only_reason_ = reason;
    read_only_ = true;
  }
  warn("disk turned read-only: " + reason);
}

uint64_t SecureDisk::host_bytes_session() const {
  return segments_->bytes_written() + index_->stats().host_bytes_written +
         root_writes_ * log::RootSlots::kSlotSize;
}

Status SecureDisk::flush() {
  if (closed_) return Status::invalid_argument("disk is closed");
  std::lock_guard lock(flush_mu_);
  if (options_.read_only) return Status::ok();  // nothing can be pending
  JD_TRY(check_writable());
  // A full host: the reserve gives this flush room to place the buffered blocks and commit,
  // and so to free what trims and overwrites released. Writes themselves never use it.
  Status s = drain_locked();
  if (s.code() == Code::kNoSpace && release_reserve()) s = drain_locked();
  JD_TRY(s);
  s = commit_locked();
  if (s.code() == Code::kNoSpace && release_reserve()) s = commit_locked();
  return s;
}

void SecureDisk::note_emptied_locked(const std::vector<uint64_t>& segments) {
  if (!cleaner_) {
    give_back_empty_segments(segments);
    return;
  }
  // Removing a file took about 1 ms: after a large overwrite that was most of the flush
  // (tuning.md, round 7). The cleaner removes them right after, off the flush's path.
  emptied_.insert(emptied_.end(), segments.begin(), segments.end());
}

bool SecureDisk::release_reserve() {
  if (!reserve_ || !reserve_->release()) return false;
  alloc_->allow_growth();
  warn("the host is full: used the space reserve to commit; writes need free host space");
  return true;
}

Status SecureDisk::commit_locked() {
  if (!dirty_) return Status::ok();
  // 1-2. The data segments and the index (its WAL records, and any manifest or SST) are made
  // durable at the same time. The index's new records are unreachable until the root names
  // them, so they may land before the blocks they refer to; only the root (step 3) must wait
  // for both. That saves one sync latency per flush. (A store that injects faults by
  // operation number gets them in order: data, then index.) A failed sync leaves the host
  // state unknown, so the disk stops accepting writes.
  Status data;
  auto root = [&]() -> Result<index::IndexRoot> {
    if (store_.wants_ordered_operations()) {
      data = segments_->sync_dirty();
      if (!data.is_ok()) return data;
      return index_->prepare_commit();
    }
    std::jthread data_sync;
    if (segments_->has_dirty()) data_sync = std::jthread([&] { data = segments_->sync_dirty(); });
    return index_->prepare_commit();
  }();  // joins data_sync
  if (!data.is_ok()) {
    if (root.is_ok()) index_->commit_failed();
    set_read_only("syncing data segments failed: " + data.to_string());
    return data;
  }
  if (!root.is_ok()) {
    if (root.status().code() != Code::kNoSpace) {
      set_read_only("writing the index failed: " + root.status().to_string());
    }
    return root.status();
  }
  index_->set_live_entries(live_blocks_);
  // 3. The single commit point: a root slot naming the new index state.
  RootPayload payload;
  payload.uuid = header_.uuid;
  payload.logical_blocks = header_.logical_blocks;
  payload.segment_blocks = header_.segment_blocks;
  payload.index = *root;
  payload.user_bytes_written = user_bytes_base_ + user_bytes_session_;
  payload.host_bytes_written = host_bytes_base_ + host_bytes_session() + log::RootSlots::kSlotSize;
  auto tag = roots_->commit(epoch_ + 1, payload.encode());
  if (!tag.is_ok()) {
    index_->commit_failed();
    set_read_only("writing the root slot failed: " + tag.status().to_string());
    return tag.status();
  }
  ++epoch_;
  root_tag_ = *tag;
  index_->commit_succeeded(*root);
  ++root_writes_;
  dirty_ = false;

  // 4. The anchor follows the durable commit. A failure here does not undo the commit; it
  // weakens rollback detection until the next successful update, so say so.
  if (anchor_) {
    Status a = anchor_->update({epoch_, root_tag_});
    if (!a.is_ok()) warn("could not update the anchor: " + a.to_string());
  }

  // 5. Only now may the host blocks this commit stopped referencing be reused, and segments
  // left empty be removed. Exclusive reclaim_mu_ waits for reads that looked them up earlier.
  std::vector<uint64_t> emptied;
  {
    std::unique_lock reclaim(reclaim_mu_);
    emptied = alloc_->release_deferred();
  }
  note_emptied_locked(emptied);
  if (reserve_ && !reserve_->full()) reserve_->refill();
  if (cleaner_) cleaner_->wake();
  return Status::ok();
}

}  // namespace jindisk::disk
