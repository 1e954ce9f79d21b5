// A Version is one immutable SST set: level 0 (newest first, may overlap) and levels 1..n
// (each sorted by lba, files non-overlapping). Readers take a shared_ptr<const Version> and
// keep a consistent snapshot without holding any lock; dumps and compactions publish a new
// Version built by apply_edit().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "host/store.hpp"
#include "index/block_cache.hpp"
#include "index/manifest.hpp"
#include "index/sst_reader.hpp"

namespace jindisk::index {

using SstList = std::vector<std::shared_ptr<const SstReader>>;

struct Version {
  // Changes whenever the SST set changes (a manifest is needed for a new seq).
  uint64_t seq = 0;
  std::array<SstList, kMaxLevels> levels;

  // The newest version of lba in the SSTs (a tombstone is returned as such).
  Result<std::optional<BlockRef>> find(uint64_t lba) const;
  // One source per level-0 file (newest first), then one per deeper non-empty level.
  void add_sources(std::vector<std::unique_ptr<EntrySource>>& out, bool fill_cache) const;

  uint64_t level_entries(size_t level) const;
  size_t file_count() const;
  uint64_t entries() const;
  uint64_t host_bytes() const;
  size_t depth() const;  // 1 + the deepest non-empty level; 0 without files
  std::set<uint64_t> file_ids() const;
  // What a manifest of this version lists, in manifest order.
  std::vector<ManifestEntry> manifest_entries() const;
};

// Checks a manifest's listing (levels in range, ids unique and below next_file_id, level 1+
// sorted and non-overlapping) and opens every SST. kCorruption names what is wrong.
Result<std::shared_ptr<const Version>> load_version(host::Store& store,
                                                    const std::vector<ManifestEntry>& entries,
                                                    BlockCache* cache, uint64_t next_file_id,
                                                    uint64_t seq);

// A copy of `base` without the files in `removed`, plus `added` in `level` (level 0: in front,
// as the newest; deeper: in lba order).
std::shared_ptr<const Version> apply_edit(const Version& base, const std::set<uint64_t>& removed,
                                          size_t level, const SstList& added, uint64_t seq);

}  // namespace jindisk::index
