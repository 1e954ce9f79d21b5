#include "disk/segment_files.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <system_error>
#include <thread>

#include "crypto/aead.hpp"
#include "disk/segment_summary.hpp"
#include "util/id_name.hpp"

namespace jindisk::disk {

SegmentFiles::SegmentFiles(host::Store& store, uint32_t segment_blocks, size_t max_open)
    : store_(store),
      segment_blocks_(segment_blocks),
      summary_bytes_(SegmentSummary::area_bytes(segment_blocks)),
      max_open_(max_open != 0 ? max_open : store.open_file_budget()) {}

uint64_t SegmentFiles::slot_offset(uint32_t segment_blocks, uint32_t slot) {
  return SegmentSummary::area_bytes(segment_blocks) + uint64_t(slot) * crypto::kBlockSize;
}

std::string SegmentFiles::name(uint64_t segment) {
  return util::id_name("seg-", segment);
}

std::optional<uint64_t> SegmentFiles::parse_name(std::string_view name) {
  return util::parse_id_name("seg-", name);
}

std::shared_ptr<host::File> SegmentFiles::cached_locked(uint64_t segment) {
  if (auto it = open_.find(segment); it != open_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  if (auto it = dirty_.find(segment); it != dirty_.end()) return it->second;
  return nullptr;
}

Result<std::shared_ptr<host::File>> SegmentFiles::file(uint64_t segment, bool for_write) {
  uint64_t removals;
  {
    std::lock_guard lock(mu_);
    if (auto f = cached_locked(segment)) return f;
    removals = removals_;
  }
  // Opening takes several system calls; readers of other segments need not wait for them.
  auto opened = store_.open(name(segment),
                            for_write ? host::OpenMode::kCreateOrOpen : host::OpenMode::kExisting);
  if (!opened.is_ok()) {
    if (opened.status().code() == Code::kNotFound) {
      return Status::corruption("data segment " + name(segment) + " is missing");
    }
    return opened.status();
  }
  std::shared_ptr<host::File> f(std::move(opened).value());
  std::lock_guard lock(mu_);
  if (for_write) created_ = true;  // cheap over-approximation: the commit syncs the directory
  // Another thread may have opened it meanwhile: keep one handle, so dirty_ covers every write.
  if (auto cached = cached_locked(segment)) return cached;
  // A file removed meanwhile must not be cached: its number may be reused for a new file.
  if (removals != removals_) return f;
  lru_.emplace_front(segment, f);
  open_[segment] = lru_.begin();
  while (lru_.size() > max_open_) {
    open_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return f;
}

Status SegmentFiles::write(uint64_t first_hba, std::span<const uint8_t> blocks,
                           std::span<const uint8_t> summary_entries) {
  const uint64_t segment = first_hba / segment_blocks_;
  const uint64_t slot = first_hba % segment_blocks_;
  const uint64_t offset = slot_offset(segment_blocks_, slot);
  JD_ASSIGN_OR_RETURN(std::shared_ptr<host::File> f, file(segment, true));
  {
    std::lock_guard lock(mu_);
    dirty_[segment] = f;
  }
  JD_TRY(f->write_at(slot * SegmentSummary::kEntrySize, summary_entries));
  JD_TRY(f->write_at(offset, blocks));
  std::lock_guard lock(mu_);
  bytes_written_ += blocks.size() + summary_entries.size();
  uint64_t& size = sizes_[segment];
  size = std::max<uint64_t>(size, offset + blocks.size());
  return Status::ok();
}

Status SegmentFiles::prepare_for_write(uint64_t segment, uint32_t end_slot) {
  JD_ASSIGN_OR_RETURN(std::shared_ptr<host::File> f, file(segment, true));
  f->preallocate(slot_offset(segment_blocks_, std::min(end_slot, segment_blocks_)));
  return Status::ok();
}

Status SegmentFiles::read(uint64_t first_hba, std::span<uint8_t> out) {
  const uint64_t segment = first_hba / segment_blocks_;
  const uint64_t offset = slot_offset(segment_blocks_, first_hba % segment_blocks_);
  JD_ASSIGN_OR_RETURN(std::shared_ptr<host::File> f, file(segment, false));
  Status s = f->read_exact(offset, out);
  // The name only on failure: formatting it for every read showed up in a 4K read profile.
  return s.is_ok() ? s : s.with_context(name(segment));
}

void SegmentFiles::prefetch(uint64_t first_hba, size_t blocks) {
  const uint64_t offset = slot_offset(segment_blocks_, first_hba % segment_blocks_);
  auto f = file(first_hba / segment_blocks_, false);
  if (f.is_ok()) f.value()->prefetch(offset, blocks * crypto::kBlockSize);
}

void SegmentFiles::prefetch_segment(uint64_t segment) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = prefetched_.try_emplace(segment, now);
    if (!fresh && now - it->second < kSegmentPrefetchInterval) return;
    it->second = now;
    if (prefetched_.size() > 4 * max_open_) {
      std::erase_if(prefetched_,
                    [&](const auto& e) { return now - e.second >= kSegmentPrefetchInterval; });
    }
  }
  auto f = file(segment, false);
  if (f.is_ok()) f.value()->prefetch(0, slot_offset(segment_blocks_, segment_blocks_));
}

Result<std::vector<uint8_t>> SegmentFiles::read_summary(uint64_t segment) {
  JD_ASSIGN_OR_RETURN(std::shared_ptr<host::File> f, file(segment, false));
  // A short file is fine: entries past its end were never written and stay zero.
  std::vector<uint8_t> area(summary_bytes_, 0);
  auto n = f->read_at(0, area);
  if (!n.is_ok()) return n.status().with_context(name(segment));
  return area;
}

bool SegmentFiles::has_dirty() const {
  std::lock_guard lock(mu_);
  return !dirty_.empty() || created_;
}

Status SegmentFiles::sync_dirty() {
  std::map<uint64_t, std::shared_ptr<host::File>> dirty;
  bool created;
  {
    std::lock_guard lock(mu_);
    dirty.swap(dirty_);
    created = created_;
    created_ = false;
  }
  std::vector<std::pair<uint64_t, std::shared_ptr<host::File>>> files(dirty.begin(), dirty.end());
  // After a large write there are hundreds of files (one per 4 MiB); synced one after another
  // they took 0.1-0.3 s. Concurrent syncs share the host file system's journal commits and
  // took a fifth of that (tuning.md, round 7). A store that replays its operations in a fixed
  // order (the crash tests) gets them one by one.
  const size_t threads = store_.wants_ordered_operations()
                             ? 1
                             : std::min(kSyncThreads, (files.size() + kFilesPerSyncThread - 1) /
                                                          kFilesPerSyncThread);
  std::vector<Status> results(files.size());
  std::atomic<size_t> next{0};
  auto sync_some = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) results[i] = files[i].second->sync();
  };
  {
    std::vector<std::jthread> helpers;
    try {
      for (size_t t = 1; t < threads; ++t) helpers.emplace_back(sync_some);
    } catch (const std::system_error&) {
      // No thread to be had (a process limit): this one syncs what the others do not.
    }
    sync_some();
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (!results[i].is_ok()) return results[i].with_context("sync " + name(files[i].first));
  }
  if (created) JD_TRY(store_.sync_dir());
  return Status::ok();
}

Status SegmentFiles::remove(uint64_t segment) {
  Status removed = store_.remove(name(segment));
  // Forget the file after it is gone: a reader that opened it up to the unlink then sees the
  // removal count change and does not cache its handle.
  std::lock_guard lock(mu_);
  if (auto it = open_.find(segment); it != open_.end()) {
    lru_.erase(it->second);
    open_.erase(it);
  }
  dirty_.erase(segment);
  sizes_.erase(segment);
  prefetched_.erase(segment);
  ++removals_;
  return removed;
}

Status SegmentFiles::learn_size(uint64_t segment) {
  JD_ASSIGN_OR_RETURN(std::shared_ptr<host::File> f, file(segment, false));
  JD_ASSIGN_OR_RETURN(uint64_t size, f->size());
  std::lock_guard lock(mu_);
  sizes_[segment] = size;
  return Status::ok();
}

uint64_t SegmentFiles::total_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [segment, size] : sizes_) total += size;
  return total;
}

uint64_t SegmentFiles::bytes_written() const {
  std::lock_guard lock(mu_);
  return bytes_written_;
}

}  // namespace jindisk::disk
