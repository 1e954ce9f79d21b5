// The memtable: newest BlockRef (or tombstone) per LBA since the last dump, plus which of them
// changed since the WAL last received them ("dirty"). Values live in a hash map: every read
// looks an LBA up here, and a tree of 128 Ki entries took about 1 us a lookup in cache misses
// (docs/bench/tuning.md, round 8). A set of the same LBAs keeps their order for dumps and
// scans: a pass over the whole hash map per scan made discarding a 1 TiB disk take 3 s.
//
// Only the final value per LBA matters for recovery (WAL replay applies records in order, and
// every record carries a whole BlockRef), so instead of an op-by-op delta the memtable tracks
// the set of dirty LBAs: the next WAL append writes each dirty LBA's current value once. That
// bounds the delta by the memtable size, however often one LBA is rewritten between commits.
//
// Not synchronised: LsmIndex::Impl guards it with its shared mutex. Only the writer thread
// mutates it, so that thread may iterate it without the lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "index/entry.hpp"
#include "jindisk/status.hpp"

namespace jindisk::index {

class Memtable {
 public:
  // Records a new value and marks the LBA dirty.
  void put(uint64_t lba, const BlockRef& ref);
  // Records a value that is already durable in the WAL (replay): not dirty.
  void put_clean(uint64_t lba, const BlockRef& ref);
  // put(), returning the value it replaced (nullopt: the LBA was not here).
  std::optional<BlockRef> exchange(uint64_t lba, const BlockRef& ref);

  const BlockRef* find(uint64_t lba) const;
  // Entries with first <= lba <= last, in order (tombstones included).
  std::vector<Entry> range(uint64_t first, uint64_t last) const;
  // Calls visit for every entry in LBA order (tombstones included), stopping at an error.
  Status visit_in_order(const std::function<Status(const Entry&)>& visit) const;

  // Current values of the dirty LBAs, in order of first change.
  std::vector<Entry> dirty_entries() const;
  size_t dirty_count() const { return dirty_.size(); }
  void clear_dirty();

  void clear();
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  struct Slot {
    BlockRef ref;
    bool dirty = false;
  };
  // The slot of lba, created (and entered in order_) if new; true if it was created.
  std::pair<Slot&, bool> slot(uint64_t lba);
  std::unordered_map<uint64_t, Slot> map_;
  std::set<uint64_t> order_;  // the LBAs of map_, in order
  std::vector<uint64_t> dirty_;  // each LBA once; all present in map_
};

}  // namespace jindisk::index
