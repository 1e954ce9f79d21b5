// Reads one SST. open() verifies the sealed file against its manifest entry, validates the
// footer against that entry, and keeps the fences (first lba of each data block, 8 bytes per
// block) in memory; data blocks are read on demand through the shared BlockCache, and each
// one is validated against its fences before use. Immutable after open: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "host/store.hpp"
#include "index/block_cache.hpp"
#include "index/sst_format.hpp"
#include "log/sealed_file.hpp"

namespace jindisk::index {

class SstReader {
 public:
  // kCorruption names the file if it is missing, fails to verify, or disagrees with `meta`.
  static Result<std::shared_ptr<const SstReader>> open(host::Store& store, const SstMeta& meta,
                                                       BlockCache* cache);

  const SstMeta& meta() const { return meta_; }
  uint64_t file_id() const { return meta_.ref.file_id; }
  size_t data_blocks() const { return fences_.size(); }
  // Host bytes of the file (blocks and tag table).
  uint64_t host_bytes() const;

  // The version of lba in this file, if any (a tombstone is returned as such).
  Result<std::optional<BlockRef>> find(uint64_t lba) const;

  // Data block i, decoded and validated. fill_cache=false reads around the cache (compaction
  // streams through whole files and would only evict the blocks readers need).
  Result<std::shared_ptr<const DataBlock>> block(size_t i, bool fill_cache) const;
  // Index of the data block that would hold lba (lba >= min_lba).
  size_t block_for(uint64_t lba) const;

 private:
  SstReader(log::SealedFileReader file, const SstMeta& meta, std::vector<uint64_t> fences,
            BlockCache* cache)
      : file_(std::move(file)), meta_(meta), fences_(std::move(fences)), cache_(cache) {}

  log::SealedFileReader file_;
  SstMeta meta_;
  std::vector<uint64_t> fences_;
  BlockCache* cache_;  // may be null (no caching)
};

// Iterates one SST in lba order.
class SstIterator final : public EntrySource {
 public:
  SstIterator(std::shared_ptr<const SstReader> reader, bool fill_cache)
      : reader_(std::move(reader)), fill_cache_(fill_cache) {}
  Status seek(uint64_t lba) override;
  bool valid() const override { return data_ != nullptr; }
  const Entry& entry() const override { return (*data_)[pos_]; }
  Status next() override;

 private:
  Status load(size_t block);

  std::shared_ptr<const SstReader> reader_;
  bool fill_cache_;
  size_t block_ = 0;
  size_t pos_ = 0;
  std::shared_ptr<const DataBlock> data_;  // null when not valid
};

}  // namespace jindisk::index
