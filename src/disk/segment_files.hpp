// Data segment files ("seg-<16 hex>") in the host store: the data log. A file starts with the
// segment summary (segment_summary.hpp, one entry per slot), then slot `off` of segment `s` is
// at byte summary_bytes + off * 4096. Keeps recently used files open (bounded), and pins
// files written since the last sync_dirty() so that the commit can fdatasync exactly those.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/store.hpp"
#include "jindisk/status.hpp"

namespace jindisk::disk {

class SegmentFiles {
 public:
  // Keeps up to max_open files open (0: as many as the store's open_file_budget()).
  SegmentFiles(host::Store& store, uint32_t segment_blocks, size_t max_open = 0);

  static std::string name(uint64_t segment);
  static std::optional<uint64_t> parse_name(std::string_view name);

  // Byte offset of a slot's ciphertext in its segment file.
  static uint64_t slot_offset(uint32_t segment_blocks, uint32_t slot);

  // Writes consecutive blocks starting at first_hba (they must stay inside one segment) and
  // their summary entries (SegmentSummary::kEntrySize bytes per block).
  Status write(uint64_t first_hba, std::span<const uint8_t> blocks,
               std::span<const uint8_t> summary_entries);
  // Opens (creating it if needed) the file of a segment about to be written up to slot
  // `end_slot` (exclusive), so that the writes find it open (creating a file took 0.5-1 ms
  // here, in line with the writes), and preallocates host space up to there: appending direct
  // writes to a file with no blocks behind it ran 15-40% slower. Only up to what the writes
  // will use anyway, so that a nearly full host loses no more space than the writes take.
  Status prepare_for_write(uint64_t segment, uint32_t end_slot);
  // Reads consecutive blocks starting at first_hba (inside one segment). A missing file or a
  // short read is kCorruption: the index says the block is there.
  Status read(uint64_t first_hba, std::span<uint8_t> out);
  // Hints that read(first_hba, blocks * 4096 bytes) follows soon (errors are left to read()).
  void prefetch(uint64_t first_hba, size_t blocks);
  // Hints that the whole segment will be read soon (a sequential scan). Asks the host at most
  // once per kSegmentPrefetchInterval per segment: the scan's later reads find it cached.
  void prefetch_segment(uint64_t segment);
  static constexpr std::chrono::seconds kSegmentPrefetchInterval{10};
  // The segment's summary area; bytes never written read as zero.
  Result<std::vector<uint8_t>> read_summary(uint64_t segment);
  // fdatasync every file written since the last call (several at once when there are many);
  // sync_dir if one was created.
  Status sync_dirty();
  static constexpr size_t kSyncThreads = 8;
  static constexpr size_t kFilesPerSyncThread = 16;
  bool has_dirty() const;  // anything for sync_dirty() to do
  Status remove(uint64_t segment);
  // Host bytes written through write() since construction.
  uint64_t bytes_written() const;
  // Records the current size of an existing segment file (at open), so that total_bytes()
  // stays exact without touching the host again.
  Status learn_size(uint64_t segment);
  // Sum of the sizes of all segment files (as learned and as written since).
  uint64_t total_bytes() const;

 private:
  // An open handle for the segment, from the cache or freshly opened (without mu_ held).
  Result<std::shared_ptr<host::File>> file(uint64_t segment, bool for_write);
  std::shared_ptr<host::File> cached_locked(uint64_t segment);

  host::Store& store_;
  const uint32_t segment_blocks_;
  const uint64_t summary_bytes_;
  const size_t max_open_;
  mutable std::mutex mu_;
  // LRU of open files: most recent at the front.
  std::list<std::pair<uint64_t, std::shared_ptr<host::File>>> lru_;
  std::map<uint64_t, decltype(lru_)::iterator> open_;
  std::map<uint64_t, std::shared_ptr<host::File>> dirty_;
  std::map<uint64_t, uint64_t> sizes_;                                    // segment -> file size
  std::map<uint64_t, std::chrono::steady_clock::time_point> prefetched_;  // by prefetch_segment
  uint64_t removals_ = 0;  // remove() calls so far: an open that raced one is not cached
  bool created_ = false;
  uint64_t bytes_written_ = 0;
};

}  // namespace jindisk::disk
