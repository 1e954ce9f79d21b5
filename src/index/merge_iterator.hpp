// Merging sorted entry streams, newest first: the read path of scan() and the heart of
// compaction. Sources are given newest first; for an lba present in several, the entry from
// the earliest source wins and the others are skipped.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "index/entry.hpp"
#include "index/sst_reader.hpp"

namespace jindisk::index {

// A copied run of entries (a memtable range).
class VectorSource final : public EntrySource {
 public:
  explicit VectorSource(std::vector<Entry> entries) : entries_(std::move(entries)) {}
  Status seek(uint64_t lba) override;
  bool valid() const override { return pos_ < entries_.size(); }
  const Entry& entry() const override { return entries_[pos_]; }
  Status next() override {
    ++pos_;
    return Status::ok();
  }

 private:
  std::vector<Entry> entries_;
  size_t pos_ = 0;
};

// The files of one level >= 1 (sorted by lba, non-overlapping) as one stream.
class LevelIterator final : public EntrySource {
 public:
  LevelIterator(std::vector<std::shared_ptr<const SstReader>> files, bool fill_cache)
      : files_(std::move(files)), fill_cache_(fill_cache) {}
  Status seek(uint64_t lba) override;
  bool valid() const override { return current_ && current_->valid(); }
  const Entry& entry() const override { return current_->entry(); }
  Status next() override;

 private:
  Status open_file(size_t i, uint64_t lba);  // positions at the first entry >= lba from file i

  std::vector<std::shared_ptr<const SstReader>> files_;
  bool fill_cache_;
  size_t file_ = 0;
  std::unique_ptr<SstIterator> current_;
};

class MergeIterator {
 public:
  explicit MergeIterator(std::vector<std::unique_ptr<EntrySource>> newest_first)
      : sources_(std::move(newest_first)) {}
  Status seek(uint64_t lba);
  bool valid() const { return current_ >= 0; }
  // The newest entry of the smallest lba (possibly a tombstone).
  const Entry& entry() const { return sources_[static_cast<size_t>(current_)]->entry(); }
  // Skips every version of the current lba.
  Status next();

 private:
  void pick();

  std::vector<std::unique_ptr<EntrySource>> sources_;
  int current_ = -1;  // index of the source holding entry(), -1 when exhausted
};

}  // namespace jindisk::index
